package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
)

// doc joins lines with newlines so that a test's YAML line numbers are its
// argument positions plus one.
func doc(lines ...string) []byte {
	return []byte(strings.Join(lines, "\n") + "\n")
}

func dur(d time.Duration) model.Duration { return model.Duration(d) }

func mustLoadBytes(t *testing.T, data []byte) *Config {
	t.Helper()
	cfg, err := LoadBytes(data, "config.yml")
	if err != nil {
		t.Fatalf("LoadBytes: unexpected error:\n%v", err)
	}
	return cfg
}

func TestDefaultHasDocumentedValues(t *testing.T) {
	want := &Config{
		Registry: RegistryConfig{ExcludeGlobalServices: true,
			PerService: PerServiceConfig{Enabled: true, MaxServices: 100000},
			Quota:      QuotaConfig{Services: 50000, Instances: 150000}},
		Alarms: AlarmsConfig{InternalErrorAutoClear: dur(5 * time.Minute)},
		Alerting: AlertingConfig{
			AlertnamePrefix:   "ServiceComb",
			ResendInterval:    dur(time.Minute),
			ResolvedRetention: dur(15 * time.Minute),
			QueueCapacity:     10000,
			MaxBatchSize:      256,
		},
	}
	if got := Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("Default() = %+v, want %+v", got, want)
	}
}

func TestLoadBytesWithoutContentYieldsDefault(t *testing.T) {
	for name, input := range map[string]string{
		"empty":             "",
		"only comments":     "# nothing configured yet\n\n  # indented comment\n",
		"document marker":   "---\n",
		"explicit null":     "~\n",
		"empty sections":    "global:\nregistry:\nalarms:\nalerting:\n",
		"empty flow blocks": "global: {}\nalerting: {}\n",
	} {
		t.Run(name, func(t *testing.T) {
			if got := mustLoadBytes(t, []byte(input)); !reflect.DeepEqual(got, Default()) {
				t.Errorf("got %+v, want Default()", got)
			}
		})
	}
}

func TestLoadFullExample(t *testing.T) {
	cfg, err := Load("testdata/full.yml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}

	if got := cfg.Global.ExternalURL.String(); got != "http://exporter.example.com:9729/" {
		t.Errorf("global.external_url = %q", got)
	}
	if len(cfg.Sources) != 2 || cfg.Sources[0].Name != "main" || cfg.Sources[1].Name != "sc" {
		t.Fatalf("sources = %+v, want main and sc", cfg.Sources)
	}

	etcd := cfg.Sources[0].Etcd
	if etcd == nil || cfg.Sources[0].ServiceCenter != nil {
		t.Fatalf("sources[0] must be an etcd source: %+v", cfg.Sources[0])
	}
	wantEndpoints := []string{"http://127.0.0.1:2379", "https://etcd-2.example.com:2379"}
	if !reflect.DeepEqual(etcd.Endpoints, wantEndpoints) {
		t.Errorf("etcd.endpoints = %v, want %v", etcd.Endpoints, wantEndpoints)
	}
	// Relative paths are resolved against the config file's directory.
	if want := filepath.Join("testdata", "certs", "ca.pem"); etcd.TLSConfig.CAFile != want {
		t.Errorf("etcd.tls_config.ca_file = %q, want %q", etcd.TLSConfig.CAFile, want)
	}
	if want := filepath.Join("testdata", "secrets", "etcd-password"); etcd.PasswordFile != want {
		t.Errorf("etcd.password_file = %q, want %q", etcd.PasswordFile, want)
	}
	if pw, err := etcd.ReadPassword(); err != nil || pw != "etcd-file-password" {
		t.Errorf("etcd.ReadPassword() = %q, %v", pw, err)
	}

	sc := cfg.Sources[1].ServiceCenter
	if sc == nil {
		t.Fatalf("sources[1] must be a servicecenter source: %+v", cfg.Sources[1])
	}
	if sc.PollInterval != dur(30*time.Second) || sc.Username != "root" || sc.Password != "s3cr3t-sc-password" {
		t.Errorf("servicecenter = %+v", sc)
	}
	if !sc.HTTPClientConfig.TLSConfig.InsecureSkipVerify || sc.HTTPClientConfig.ProxyURL.String() != "http://proxy.example.com:3128" {
		t.Errorf("servicecenter.http_config = %+v", sc.HTTPClientConfig)
	}

	if !reflect.DeepEqual(cfg.Registry.GlobalServices, []string{"shared-gateway"}) {
		t.Errorf("registry.global_services = %q", cfg.Registry.GlobalServices)
	}

	a := cfg.Alerting
	if !reflect.DeepEqual(a.ExternalLabels, map[string]string{"region": "eu", "cluster": "prod-1"}) {
		t.Errorf("external_labels = %v", a.ExternalLabels)
	}
	if a.Severity["InternalError"] != "warning" {
		t.Errorf("severity = %v", a.Severity)
	}
	if len(a.Alertmanagers) != 2 {
		t.Fatalf("alertmanagers = %+v, want 2", a.Alertmanagers)
	}
	am := a.Alertmanagers[1]
	if am.Timeout != dur(10*time.Second) {
		t.Errorf("alertmanagers[1].timeout = %v, want the 10s default", am.Timeout)
	}
	if ba := am.HTTPClientConfig.BasicAuth; ba == nil || ba.Password != "am-basic-auth-password" {
		t.Errorf("alertmanagers[1].http_config.basic_auth = %+v", ba)
	}
}

// The example doubles as the format's documentation, so it must mention every
// key this package defines.
func TestFullExampleMentionsEveryKey(t *testing.T) {
	data, err := os.ReadFile("testdata/full.yml")
	if err != nil {
		t.Fatal(err)
	}
	types := []reflect.Type{
		reflect.TypeFor[Config](), reflect.TypeFor[GlobalConfig](), reflect.TypeFor[RegistryConfig](),
		reflect.TypeFor[AlarmsConfig](), reflect.TypeFor[SourceConfig](), reflect.TypeFor[EtcdConfig](),
		reflect.TypeFor[ServiceCenterConfig](), reflect.TypeFor[AlertingConfig](), reflect.TypeFor[AlertmanagerConfig](),
	}
	for _, typ := range types {
		for _, key := range fieldsOf(typ).keys {
			if !strings.Contains(string(data), key) {
				t.Errorf("testdata/full.yml does not mention %s key %q", typ.Name(), key)
			}
		}
	}
}

func TestLoadAppliesDefaultsInsideListElements(t *testing.T) {
	cfg := mustLoadBytes(t, doc(
		"sources:",
		"  - name: e",
		"    etcd:",
		"      endpoints: [http://127.0.0.1:2379]",
		"  - name: s",
		"    servicecenter:",
		"      endpoints: [http://127.0.0.1:30100]",
		"alerting:",
		"  alertmanagers:",
		"    - url: http://127.0.0.1:9093",
	))

	wantEtcd := &EtcdConfig{
		Endpoints:      []string{"http://127.0.0.1:2379"},
		Prefix:         "/cse-sr",
		DialTimeout:    dur(5 * time.Second),
		RequestTimeout: dur(10 * time.Second),
	}
	if !reflect.DeepEqual(cfg.Sources[0].Etcd, wantEtcd) {
		t.Errorf("etcd = %+v, want %+v", cfg.Sources[0].Etcd, wantEtcd)
	}
	wantSC := &ServiceCenterConfig{
		Endpoints:        []string{"http://127.0.0.1:30100"},
		PollInterval:     dur(30 * time.Second),
		RequestTimeout:   dur(10 * time.Second),
		HTTPClientConfig: config.DefaultHTTPClientConfig,
		// Service Center's own login limiter: 2 failures, one per 15 min.
		LoginMaxFailures:     2,
		LoginFailureInterval: dur(15 * time.Minute),
	}
	if !reflect.DeepEqual(cfg.Sources[1].ServiceCenter, wantSC) {
		t.Errorf("servicecenter = %+v, want %+v", cfg.Sources[1].ServiceCenter, wantSC)
	}
	am := cfg.Alerting.Alertmanagers[0]
	if am.Timeout != dur(10*time.Second) || !am.HTTPClientConfig.FollowRedirects || !am.HTTPClientConfig.EnableHTTP2 {
		t.Errorf("alertmanager = %+v, want timeout 10s and common's HTTP defaults", am)
	}
}

func TestLoadKeepsExplicitZeroWhereAllowed(t *testing.T) {
	cfg := mustLoadBytes(t, doc(
		"registry:",
		"  exclude_global_services: false",
		"alarms:",
		"  internal_error_auto_clear: 0",
		"alerting:",
		"  resolved_retention: 0s",
	))
	if cfg.Registry.ExcludeGlobalServices {
		t.Error("registry.exclude_global_services: explicit false was replaced by the default")
	}
	if cfg.Alarms.InternalErrorAutoClear != 0 {
		t.Errorf("alarms.internal_error_auto_clear = %v, want 0 (disabled)", cfg.Alarms.InternalErrorAutoClear)
	}
	if cfg.Alerting.ResolvedRetention != 0 {
		t.Errorf("alerting.resolved_retention = %v, want 0", cfg.Alerting.ResolvedRetention)
	}
}

func TestLoadSupportsAnchorsAndMergeKeys(t *testing.T) {
	cfg := mustLoadBytes(t, doc(
		"alerting:",
		"  alertmanagers:",
		"    - &am",
		"      url: http://a:9093",
		"      timeout: 3s",
		"    - <<: *am",
		"      url: http://b:9093",
	))
	ams := cfg.Alerting.Alertmanagers
	if len(ams) != 2 || ams[1].URL.String() != "http://b:9093" || ams[1].Timeout != dur(3*time.Second) {
		t.Errorf("alertmanagers = %+v, want the second to inherit timeout 3s and override url", ams)
	}
}

// writeFile creates dir/name with content and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadResolvesRelativePathsAgainstConfigDir(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "secrets/etcd", "etcd-pw\n")
	writeFile(t, dir, "secrets/sc", "sc-pw\n")
	cfgPath := writeFile(t, dir, "exporter.yml", string(doc(
		"sources:",
		"  - name: e",
		"    etcd:",
		"      endpoints: [http://127.0.0.1:2379]",
		"      password_file: secrets/etcd",
		"      tls_config: {ca_file: ca.pem}",
		"  - name: s",
		"    servicecenter:",
		"      endpoints: [http://127.0.0.1:30100]",
		"      password_file: secrets/sc",
		"      http_config: {bearer_token_file: token}",
		"alerting:",
		"  alertmanagers:",
		"    - url: http://127.0.0.1:9093",
		"      http_config: {tls_config: {cert_file: c.pem, key_file: /abs/k.pem}}",
	)))

	cfg, err := Load(cfgPath)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	checks := []struct{ name, got, want string }{
		{"etcd.password_file", cfg.Sources[0].Etcd.PasswordFile, filepath.Join(dir, "secrets/etcd")},
		{"etcd.tls_config.ca_file", cfg.Sources[0].Etcd.TLSConfig.CAFile, filepath.Join(dir, "ca.pem")},
		{"servicecenter.password_file", cfg.Sources[1].ServiceCenter.PasswordFile, filepath.Join(dir, "secrets/sc")},
		// common's Validate turns bearer_token_file into authorization.
		{"servicecenter bearer token file", cfg.Sources[1].ServiceCenter.HTTPClientConfig.Authorization.CredentialsFile, filepath.Join(dir, "token")},
		{"alertmanager cert_file", cfg.Alerting.Alertmanagers[0].HTTPClientConfig.TLSConfig.CertFile, filepath.Join(dir, "c.pem")},
		{"absolute paths are kept", cfg.Alerting.Alertmanagers[0].HTTPClientConfig.TLSConfig.KeyFile, "/abs/k.pem"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if pw, err := cfg.Sources[0].Etcd.ReadPassword(); err != nil || pw != "etcd-pw" {
		t.Errorf("etcd ReadPassword() = %q, %v; want %q", pw, err, "etcd-pw")
	}
	if pw, err := cfg.Sources[1].ServiceCenter.ReadPassword(); err != nil || pw != "sc-pw" {
		t.Errorf("servicecenter ReadPassword() = %q, %v; want %q", pw, err, "sc-pw")
	}

	// LoadBytes has no file location, so the same relative path is looked up
	// in the working directory and fails there.
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	_, err = LoadBytes(data, cfgPath)
	if err == nil || !strings.Contains(err.Error(), cfgPath+":5: sources[0].etcd.password_file: open secrets/etcd:") {
		t.Errorf("LoadBytes error = %v, want unreadable sources[0].etcd.password_file at line 5", err)
	}
}

func TestReadPassword(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		password config.Secret
		file     string // content of password_file; "" means no file
		want     string
	}{
		{name: "inline password", password: "inline", want: "inline"},
		{name: "file trailing newline is trimmed", file: "from-file\n", want: "from-file"},
		{name: "file CRLF is trimmed", file: "from-file\r\n", want: "from-file"},
		{name: "file without newline", file: "from-file", want: "from-file"},
		{name: "inner spaces are kept", file: " a b \n", want: " a b "},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var path string
			if tt.file != "" {
				path = writeFile(t, dir, "pw"+string(rune('a'+i)), tt.file)
			}
			e := &EtcdConfig{Password: tt.password, PasswordFile: path}
			s := &ServiceCenterConfig{Password: tt.password, PasswordFile: path}
			for kind, read := range map[string]func() (string, error){"etcd": e.ReadPassword, "servicecenter": s.ReadPassword} {
				if got, err := read(); err != nil || got != tt.want {
					t.Errorf("%s ReadPassword() = %q, %v; want %q", kind, got, err, tt.want)
				}
			}
		})
	}
}

func TestReadPasswordMissingFileFails(t *testing.T) {
	e := &EtcdConfig{PasswordFile: filepath.Join(t.TempDir(), "missing")}
	if _, err := e.ReadPassword(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadPassword() error = %v, want fs.ErrNotExist", err)
	}
}

// secretsConfig sets every kind of secret the format can hold.
func secretsConfig() []byte {
	return doc(
		"sources:",
		"  - name: e",
		"    etcd:",
		"      endpoints: [http://127.0.0.1:2379, 'http://root:endpoint-password-value@127.0.0.1:2380']",
		"      username: u",
		"      password: etcd-password-value",
		"      tls_config: {cert: CERT, key: tls-key-value}",
		"  - name: s",
		"    servicecenter:",
		"      endpoints: [http://127.0.0.1:30100]",
		"      password: sc-password-value",
		"      http_config:",
		"        bearer_token: bearer-token-value",
		"        proxy_url: http://proxy:3128",
		"        proxy_connect_header: {X-Auth: [proxy-header-value]}",
		"        http_headers: {X-Token: {secrets: [header-secret-value]}}",
		"alerting:",
		"  alertmanagers:",
		"    - url: http://user:url-password-value@127.0.0.1:9093",
		"      http_config:",
		"        basic_auth: {username: am, password: basic-auth-password-value}",
		"    - url: http://127.0.0.1:9094",
		"      http_config:",
		"        oauth2: {client_id: id, client_secret: oauth2-secret-value, token_url: http://t/}",
		"    - url: http://127.0.0.1:9095",
		"      http_config:",
		"        authorization: {credentials: authorization-credentials-value}",
	)
}

func TestRedactedHidesSecrets(t *testing.T) {
	cfg := mustLoadBytes(t, secretsConfig())
	secrets := []string{
		"etcd-password-value", "tls-key-value", "sc-password-value", "bearer-token-value",
		"proxy-header-value", "header-secret-value", "url-password-value", "endpoint-password-value",
		"basic-auth-password-value", "oauth2-secret-value", "authorization-credentials-value",
	}

	check := func(t *testing.T) {
		out, err := cfg.Redacted()
		if err != nil {
			t.Fatalf("Redacted: %v", err)
		}
		for _, s := range secrets {
			if strings.Contains(string(out), s) {
				t.Errorf("Redacted() leaks %q:\n%s", s, out)
			}
		}
		if !strings.Contains(string(out), "<secret>") {
			t.Errorf("Redacted() has no <secret> placeholder:\n%s", out)
		}
		if cfg.String() != string(out) {
			t.Error("String() differs from Redacted()")
		}
	}
	t.Run("default marshaling", check)
	t.Run("common's MarshalSecretValue switched on", func(t *testing.T) {
		// Another package in the process may expose secrets globally;
		// Redacted must not depend on that switch.
		config.MarshalSecretValue = true
		defer func() { config.MarshalSecretValue = false }()
		check(t)
	})

	// Redacting works on a copy: the loaded values stay usable.
	if cfg.Sources[0].Etcd.Password != "etcd-password-value" ||
		cfg.Alerting.Alertmanagers[0].HTTPClientConfig.BasicAuth.Password != "basic-auth-password-value" ||
		cfg.Sources[1].ServiceCenter.HTTPClientConfig.ProxyConnectHeader["X-Auth"][0] != "proxy-header-value" ||
		!strings.Contains(cfg.Sources[0].Etcd.Endpoints[1], "endpoint-password-value") {
		t.Error("Redacted() modified the configuration it was called on")
	}
}

func TestRedactedOutputLoadsAgain(t *testing.T) {
	cfg, err := Load("testdata/full.yml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := cfg.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadBytes(out, "redacted.yml")
	if err != nil {
		t.Fatalf("redacted output does not load:\n%v\n%s", err, out)
	}
	if again.String() != string(out) {
		t.Errorf("effective config changed on reload:\n%s\nvs\n%s", again, out)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load error = %v, want fs.ErrNotExist", err)
	}
}

// TestLoadErrors checks the complete error output, so each case pins the
// file name, line, key path and message of every error.
func TestLoadErrors(t *testing.T) {
	_, missingErr := os.ReadFile("testdata/does-not-exist")
	if missingErr == nil {
		t.Fatal("testdata/does-not-exist exists")
	}

	tests := []struct {
		name  string
		input []byte
		want  []string
	}{
		// Unknown keys.
		{
			name:  "unknown top-level key",
			input: doc("global: {}", "sorces: []"),
			want:  []string{"config.yml:2: sorces: unknown key (valid keys: global, registry, alarms, sources, alerting)"},
		},
		{
			name:  "unknown nested key",
			input: doc("# exporter config", "", "global:", "  extrnal_url: http://x/"),
			want:  []string{"config.yml:4: global.extrnal_url: unknown key (valid keys: external_url)"},
		},
		{
			name: "unknown key inside common's tls_config",
			input: doc(
				"sources:",
				"  - name: main",
				"    etcd:",
				"      endpoints: [http://127.0.0.1:2379]",
				"      tls_config:",
				"        ca: x",
				"        cafile: ca.pem",
			),
			want: []string{"config.yml:7: sources[0].etcd.tls_config.cafile: unknown key (valid keys: ca, cert, key, ca_file, cert_file, key_file, ca_ref, cert_ref, key_ref, server_name, insecure_skip_verify, min_version, max_version)"},
		},
		{
			name: "unknown key inside common's http_config",
			input: doc(
				"alerting:",
				"  alertmanagers:",
				"    - url: http://127.0.0.1:9093",
				"      http_config:",
				"        basic_auth: {username: u, passwd: p}",
			),
			want: []string{"config.yml:5: alerting.alertmanagers[0].http_config.basic_auth.passwd: unknown key (valid keys: username, username_file, username_ref, password, password_file, password_ref)"},
		},

		// Wrong types.
		{
			name: "duration that does not parse",
			input: doc(
				"sources:",
				"  - name: main",
				"    etcd:",
				"      endpoints: [http://127.0.0.1:2379]",
				"      prefix: /cse-sr",
				"",
				"      dial_timeout: fast",
			),
			want: []string{`config.yml:7: sources[0].etcd.dial_timeout: cannot parse "fast" as a duration (such as 30s, 5m or 1h)`},
		},
		{
			name:  "duration without unit",
			input: doc("alarms:", "  internal_error_auto_clear: 300"),
			want:  []string{`config.yml:2: alarms.internal_error_auto_clear: cannot parse "300" as a duration (such as 30s, 5m or 1h)`},
		},
		{
			name:  "integer that is not whole",
			input: doc("alerting:", "  queue_capacity: 1.5"),
			want:  []string{`config.yml:2: alerting.queue_capacity: cannot parse "1.5" as an integer`},
		},
		{
			name:  "global service names as Service Center matches them",
			input: doc("registry:", "  global_services:", `    - ""`, `    - "a,b"`, `    - " a"`),
			want: []string{`config.yml:3: registry.global_services[0]: empty service name`,
				`config.yml:4: registry.global_services[1]: "a,b": one name per item (Service Center splits globalVisible at commas)`,
				`config.yml:5: registry.global_services[2]: " a": leading or trailing space would never match a service name`},
		},
		{
			name: "per-service limits and regular expressions",
			input: doc("registry:", "  per_service:", "    max_services: -1", "    include:", "      app:", `        - "ok.*"`,
				`        - "(unclosed"`, "    exclude:", "      service:", `        - "a["`),
			want: []string{`config.yml:3: registry.per_service.max_services: must be 0 or more, got -1`,
				"config.yml:7: registry.per_service.include.app[1]: bad regular expression: error parsing regexp: missing closing ): `^(?:(unclosed)$`",
				"config.yml:10: registry.per_service.exclude.service[0]: bad regular expression: error parsing regexp: missing closing ]: `[)$`"},
		},
		{
			name:  "quota limits",
			input: doc("registry:", "  quota:", "    services: 0", "    instances: -5"),
			want: []string{`config.yml:3: registry.quota.services: must be more than 0, got 0`,
				`config.yml:4: registry.quota.instances: must be more than 0, got -5`},
		},
		{
			name:  "quota not a number",
			input: doc("registry:", "  quota:", "    services: many"),
			want:  []string{`config.yml:3: registry.quota.services: cannot parse "many" as an integer`},
		},
		{
			name:  "boolean",
			input: doc("registry:", "  exclude_global_services: maybe"),
			want:  []string{`config.yml:2: registry.exclude_global_services: cannot parse "maybe" as a boolean (true or false)`},
		},
		{
			name:  "scalar where a list is expected",
			input: doc("sources:", "  - name: main", "    etcd:", "      endpoints: http://127.0.0.1:2379"),
			// No "at least one endpoint is required" on top: the value
			// that failed to decode is reported once.
			want: []string{`config.yml:4: sources[0].etcd.endpoints: expected a list, got "http://127.0.0.1:2379"`},
		},
		{
			name:  "list where a mapping is expected",
			input: doc("alerting:", "  external_labels: [region]"),
			want:  []string{"config.yml:2: alerting.external_labels: expected a mapping, got a list"},
		},
		{
			name:  "mapping where a string is expected",
			input: doc("sources:", "  - name: {first: main}", "    etcd: {endpoints: [http://127.0.0.1:2379]}"),
			want:  []string{"config.yml:2: sources[0].name: expected a string, got a mapping"},
		},
		{
			name:  "document that is not a mapping",
			input: doc("- global"),
			want:  []string{"config.yml:1: expected a mapping, got a list"},
		},

		// YAML structure.
		{
			name:  "duplicate key",
			input: doc("alerting:", "  queue_capacity: 10", "  max_batch_size: 5", "  queue_capacity: 20"),
			want:  []string{"config.yml:4: alerting.queue_capacity: duplicate key (first defined at line 2)"},
		},
		{
			name:  "multiple documents",
			input: doc("global: {}", "---", "alerting: {}"),
			want:  []string{"config.yml:3: multiple YAML documents are not supported"},
		},
		{
			name:  "syntax error reported by the YAML parser",
			input: doc("global:", "  external_url: [http://x/", "registry: {}"),
			// The line of the unterminated flow list.
			want: []string{"config.yml:2: invalid YAML: did not find expected ',' or ']'"},
		},
		{
			name:  "syntax error reported by the YAML scanner",
			input: doc("global: {}", "registry:", "\texclude_global_services: true"),
			want:  []string{"config.yml:3: invalid YAML: found character that cannot start any token"},
		},
		{
			name:  "syntax error on the first line",
			input: doc("global: external_url: x"),
			want:  []string{"config.yml:1: invalid YAML: mapping values are not allowed in this context"},
		},
		{
			name:  "undefined alias",
			input: doc("global: {}", "alerting:", "  external_labels: *labels"),
			want:  []string{"config.yml:3: invalid YAML: unknown anchor 'labels' referenced"},
		},

		// Sources.
		{
			name: "duplicate source name",
			input: doc(
				"sources:",
				"  - name: main",
				"    etcd: {endpoints: [http://127.0.0.1:2379]}",
				"  - name: other",
				"    etcd: {endpoints: [http://127.0.0.1:2379]}",
				"  - name: main",
				"    servicecenter: {endpoints: [http://127.0.0.1:30100]}",
			),
			want: []string{`config.yml:6: sources[2].name: duplicate source name "main" (already used by sources[0])`},
		},
		{
			name:  "source without a kind",
			input: doc("sources:", "  - name: main"),
			want:  []string{"config.yml:2: sources[0]: exactly one of etcd, servicecenter must be set"},
		},
		{
			name: "source with both kinds",
			input: doc(
				"sources:",
				"  - name: main",
				"    etcd: {endpoints: [http://127.0.0.1:2379]}",
				"    servicecenter: {endpoints: [http://127.0.0.1:30100]}",
			),
			want: []string{"config.yml:2: sources[0]: exactly one of etcd, servicecenter must be set"},
		},
		{
			name:  "missing name and endpoints point at the parent mapping",
			input: doc("sources:", "  - etcd:", "      prefix: /x"),
			want: []string{
				"config.yml:2: sources[0].name: is required",
				"config.yml:2: sources[0].etcd.endpoints: at least one endpoint is required",
			},
		},
		{
			name: "invalid endpoints and prefix",
			input: doc(
				"sources:",
				"  - name: main",
				"    etcd:",
				"      endpoints:",
				"        - http://127.0.0.1:2379",
				"        - 127.0.0.1:2379",
				"        - unix:///run/etcd.sock",
				"      prefix: cse-sr",
			),
			want: []string{
				`config.yml:6: sources[0].etcd.endpoints[1]: invalid endpoint "127.0.0.1:2379": first path segment in URL cannot contain colon`,
				`config.yml:7: sources[0].etcd.endpoints[2]: invalid endpoint "unix:///run/etcd.sock": URL "unix:///run/etcd.sock" must use the http or https scheme`,
				`config.yml:8: sources[0].etcd.prefix: "cse-sr" must start with '/'`,
			},
		},
		{
			name: "passwords in invalid URLs are not echoed",
			input: doc(
				"global:",
				"  external_url: 'http://u:pw-in-url@[::1'",
				"sources:",
				"  - name: main",
				"    etcd: {endpoints: ['http://u:pw-in-endpoint@[::1']}",
			),
			want: []string{
				`config.yml:2: global.external_url: cannot parse "xxxxx@[::1" as a URL: missing ']' in host`,
				`config.yml:5: sources[0].etcd.endpoints[0]: invalid endpoint "xxxxx@[::1": missing ']' in host`,
			},
		},
		{
			name: "timeouts must be positive",
			input: doc(
				"sources:",
				"  - name: sc",
				"    servicecenter:",
				"      endpoints: [http://127.0.0.1:30100]",
				"      poll_interval: 0s",
				"      request_timeout: 0",
			),
			want: []string{
				"config.yml:5: sources[0].servicecenter.poll_interval: must be greater than 0, got 0s",
				"config.yml:6: sources[0].servicecenter.request_timeout: must be greater than 0, got 0s",
			},
		},
		{
			name: "login limiter must allow at least one login",
			input: doc(
				"sources:",
				"  - name: sc",
				"    servicecenter:",
				"      endpoints: [http://127.0.0.1:30100]",
				"      login_max_failures: 0",
				"      login_failure_interval: 0s",
			),
			want: []string{
				"config.yml:5: sources[0].servicecenter.login_max_failures: must be at least 1, got 0",
				"config.yml:6: sources[0].servicecenter.login_failure_interval: must be greater than 0, got 0s",
			},
		},
		{
			name: "password and password_file together",
			input: doc(
				"sources:",
				"  - name: main",
				"    etcd:",
				"      endpoints: [http://127.0.0.1:2379]",
				"      password: pw",
				"      password_file: testdata/secrets/etcd-password",
			),
			want: []string{"config.yml:6: sources[0].etcd.password_file: password and password_file are mutually exclusive"},
		},
		{
			name: "unreadable password_file",
			input: doc(
				"sources:",
				"  - name: sc",
				"    servicecenter:",
				"      endpoints: [http://127.0.0.1:30100]",
				"      username: root",
				"      password_file: testdata/does-not-exist",
			),
			want: []string{"config.yml:6: sources[0].servicecenter.password_file: " + missingErr.Error()},
		},
		{
			name: "tls_config fails common's validation",
			input: doc(
				"sources:",
				"  - name: main",
				"    etcd:",
				"      endpoints: [https://127.0.0.1:2379]",
				"      tls_config:",
				"        cert_file: client.pem",
			),
			want: []string{"config.yml:5: sources[0].etcd.tls_config: exactly one of key or key_file must be configured when a client certificate is configured"},
		},
		{
			name: "http_config fails common's validation",
			input: doc(
				"sources:",
				"  - name: sc",
				"    servicecenter:",
				"      endpoints: [http://127.0.0.1:30100]",
				"      http_config:",
				"        bearer_token: t",
				"        basic_auth: {username: u, password: p}",
			),
			want: []string{"config.yml:5: sources[0].servicecenter.http_config: at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"},
		},

		// Alerting.
		{
			name: "alerting values out of range",
			input: doc(
				"alerting:",
				`  alertname_prefix: ""`,
				"  resend_interval: 0s",
				"  queue_capacity: 0",
				"  max_batch_size: -1",
			),
			want: []string{
				"config.yml:2: alerting.alertname_prefix: must not be empty",
				"config.yml:3: alerting.resend_interval: must be greater than 0, got 0s",
				"config.yml:4: alerting.queue_capacity: must be greater than 0, got 0",
				"config.yml:5: alerting.max_batch_size: must be greater than 0, got -1",
			},
		},
		{
			name: "invalid external label names",
			input: doc(
				"alerting:",
				"  external_labels:",
				"    region: eu",
				"    1st: x",
				"    __meta: y",
				"    k8s.cluster: z",
			),
			want: []string{
				`config.yml:4: alerting.external_labels.1st: "1st" is not a valid label name (must match [a-zA-Z_][a-zA-Z0-9_]*)`,
				`config.yml:5: alerting.external_labels.__meta: label names starting with "__" are reserved for internal use`,
				`config.yml:6: alerting.external_labels["k8s.cluster"]: "k8s.cluster" is not a valid label name (must match [a-zA-Z_][a-zA-Z0-9_]*)`,
			},
		},
		{
			name:  "unknown severity",
			input: doc("alerting:", "  severity:", "    InternalError: urgent", "    Other: info"),
			want:  []string{`config.yml:3: alerting.severity.InternalError: "urgent" is not one of critical, warning, info`},
		},
		{
			name: "alertmanager url missing or not http",
			input: doc(
				"alerting:",
				"  alertmanagers:",
				"    - timeout: 5s",
				"    - url: ftp://127.0.0.1:9093",
				"      timeout: 0s",
				"    - url: http://",
			),
			want: []string{
				"config.yml:3: alerting.alertmanagers[0].url: is required",
				`config.yml:4: alerting.alertmanagers[1].url: URL "ftp://127.0.0.1:9093" must use the http or https scheme`,
				"config.yml:5: alerting.alertmanagers[1].timeout: must be greater than 0, got 0s",
				`config.yml:6: alerting.alertmanagers[2].url: URL "http:" has no host`,
			},
		},

		// Issue 12: a duplicate Alertmanager is a configuration error with
		// its line, reported with the others; ports are checked; a tab is
		// reported on its own line.
		{
			name: "duplicate alertmanager url among other errors",
			input: doc(
				"alerting:",
				"  queue_capacity: 0",
				"  alertmanagers:",
				"    - url: http://127.0.0.1:9093",
				"    - url: http://127.0.0.1:9093",
			),
			want: []string{
				"config.yml:2: alerting.queue_capacity: must be greater than 0, got 0",
				"config.yml:5: alerting.alertmanagers[1].url: http://127.0.0.1:9093 is listed twice (first at alerting.alertmanagers[0])",
			},
		},
		{
			name: "port out of range",
			input: doc(
				"global:",
				"  external_url: http://x:0/",
				"sources:",
				"  - name: a",
				"    etcd:",
				"      endpoints: [http://127.0.0.1:99999]",
				"alerting:",
				"  alertmanagers:",
				"    - url: http://127.0.0.1:65536",
			),
			want: []string{
				`config.yml:2: global.external_url: URL "http://x:0/" has port 0, not one of 1-65535`,
				`config.yml:6: sources[0].etcd.endpoints[0]: invalid endpoint "http://127.0.0.1:99999": URL "http://127.0.0.1:99999" has port 99999, not one of 1-65535`,
				`config.yml:9: alerting.alertmanagers[0].url: URL "http://127.0.0.1:65536" has port 65536, not one of 1-65535`,
			},
		},
		{
			name:  "tab indenting line 3",
			input: doc("a: 1", "b: 2", "\tc: 3"),
			want:  []string{"config.yml:3: invalid YAML: found a tab character that violates indentation"},
		},
		{
			name:  "tab indenting line 4 below a key",
			input: doc("alerting:", "  resend_interval: 1m", "", "\t  queue_capacity: 3"),
			want:  []string{"config.yml:4: invalid YAML: found a tab character that violates indentation"},
		},

		// Several problems at once are all reported, in file order.
		{
			name: "all errors are reported in line order",
			input: doc(
				"global:",
				"  external_url: ftp://x/",
				"sources:",
				"  - name: a",
				"    etcd:",
				"      endpoints: [http://127.0.0.1:2379]",
				"      dial_timeout: soon",
				"      bogus: 1",
				"alerting:",
				"  severity: {X: high}",
			),
			want: []string{
				`config.yml:2: global.external_url: URL "ftp://x/" must use the http or https scheme`,
				`config.yml:7: sources[0].etcd.dial_timeout: cannot parse "soon" as a duration (such as 30s, 5m or 1h)`,
				"config.yml:8: sources[0].etcd.bogus: unknown key (valid keys: endpoints, prefix, tls_config, username, password, password_file, dial_timeout, request_timeout)",
				`config.yml:10: alerting.severity.X: "high" is not one of critical, warning, info`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := LoadBytes(tt.input, "config.yml")
			if err == nil {
				t.Fatalf("LoadBytes succeeded (%+v), want errors:\n%s", cfg, strings.Join(tt.want, "\n"))
			}
			if cfg != nil {
				t.Errorf("LoadBytes returned a config together with an error")
			}
			if got, want := err.Error(), strings.Join(tt.want, "\n"); got != want {
				t.Errorf("errors differ\ngot:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestLoadErrorsCanBeInspected(t *testing.T) {
	_, err := LoadBytes(doc("global:", "  extrnal_url: x"), "exporter.yml")
	var cfgErr *Error
	if !errors.As(err, &cfgErr) {
		t.Fatalf("error %v is not a *config.Error", err)
	}
	want := Error{File: "exporter.yml", Line: 2, Path: "global.extrnal_url", Msg: "unknown key (valid keys: external_url)"}
	if *cfgErr != want {
		t.Errorf("got %+v, want %+v", *cfgErr, want)
	}
}

func TestLoadReportsFileNameGivenToLoad(t *testing.T) {
	path := writeFile(t, t.TempDir(), "exporter.yml", "alerting:\n  queue_capacity: many\n")
	_, err := Load(path)
	want := path + `:2: alerting.queue_capacity: cannot parse "many" as an integer`
	if err == nil || err.Error() != want {
		t.Errorf("Load error = %v, want %s", err, want)
	}
}

// TestReadmeErrorExamplesAreCurrent: the error examples the README shows
// are what loading gives today (line numbers aside).
func TestReadmeErrorExamplesAreCurrent(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, input := range [][]byte{
		doc("global:", "  extrnal_url: http://x/"),
		doc("sources:", "  - name: main", "    etcd: {endpoints: [http://127.0.0.1:2379]}",
			"  - name: main", "    etcd: {endpoints: [http://127.0.0.1:2379]}"),
	} {
		_, err := LoadBytes(input, "config.yml")
		if err == nil {
			t.Fatalf("%s loaded", input)
		}
		_, msg, _ := strings.Cut(err.Error(), ": ") // drop "config.yml:N"
		if !strings.Contains(string(readme), msg) {
			t.Errorf("README does not show the current error %q", msg)
		}
	}
}

func TestIsBlank(t *testing.T) {
	for input, want := range map[string]bool{
		"": true, " \n\t\n": true, "# only a comment\n": true, "---\n": true,
		"sources: []\n": false, "global: {}\n": false, "a: [": false,
	} {
		if got := IsBlank([]byte(input)); got != want {
			t.Errorf("IsBlank(%q) = %v, want %v", input, got, want)
		}
	}
}

// TestQuotaKeyLeftOutKeepsItsDefault: setting one limit keeps Service
// Center's default for the other.
func TestQuotaKeyLeftOutKeepsItsDefault(t *testing.T) {
	for _, tc := range []struct {
		input string
		want  QuotaConfig
	}{
		{"registry:\n  quota:\n    services: 10\n", QuotaConfig{Services: 10, Instances: DefaultInstanceQuota}},
		{"registry:\n  quota:\n    instances: 20\n", QuotaConfig{Services: DefaultServiceQuota, Instances: 20}},
		{"registry:\n  exclude_global_services: false\n", QuotaConfig{Services: DefaultServiceQuota, Instances: DefaultInstanceQuota}},
	} {
		if got := mustLoadBytes(t, []byte(tc.input)).Registry.Quota; got != tc.want {
			t.Errorf("%q: quota %+v, want %+v", tc.input, got, tc.want)
		}
	}
}
