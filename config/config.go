// Package config loads and validates the exporter's YAML configuration.
//
// The file format is a public contract (see testdata/full.yml for a complete,
// commented example). Loading is strict: unknown keys, wrong types, duplicate
// keys, multiple documents and invalid values are all rejected, and every
// problem is reported as "FILE:LINE: KEY.PATH: message" so that operators can
// fix a broken file without guessing.
package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// Default values. They are applied before a file is decoded, so an explicit
// value in the file (including an explicit 0) always wins over them. This
// package is their only home: components take the resolved values.
const (
	// DefaultInternalErrorAutoClear is alarms.internal_error_auto_clear:
	// Service Center never clears InternalError, so its alert would fire
	// forever and teach operators to ignore it.
	DefaultInternalErrorAutoClear = model.Duration(5 * time.Minute)

	// DefaultEtcdPrefix is Service Center's root key in etcd, the default of
	// sources[].etcd.prefix.
	DefaultEtcdPrefix = "/cse-sr"

	defaultEtcdDialTimeout    = model.Duration(5 * time.Second)
	defaultEtcdRequestTimeout = model.Duration(10 * time.Second)

	defaultSCPollInterval   = model.Duration(30 * time.Second)
	defaultSCRequestTimeout = model.Duration(10 * time.Second)
	// Service Center's login limiter: 2 failures, then one per 15 minutes.
	defaultSCLoginMaxFailures     = 2
	defaultSCLoginFailureInterval = model.Duration(15 * time.Minute)

	defaultAlertnamePrefix     = "ServiceComb"
	defaultResendInterval      = model.Duration(time.Minute)
	defaultResolvedRetention   = model.Duration(15 * time.Minute)
	defaultQueueCapacity       = 10000
	defaultMaxBatchSize        = 256
	defaultAlertmanagerTimeout = model.Duration(10 * time.Second)
)

// Config is the whole configuration file.
type Config struct {
	Global   GlobalConfig   `yaml:"global"`
	Registry RegistryConfig `yaml:"registry"`
	Alarms   AlarmsConfig   `yaml:"alarms"`
	Sources  []SourceConfig `yaml:"sources"`
	Alerting AlertingConfig `yaml:"alerting"`
}

// GlobalConfig holds settings shared by all parts of the exporter.
type GlobalConfig struct {
	// ExternalURL is the URL under which the exporter is reachable by users,
	// used to build links in alerts. Optional.
	ExternalURL *config.URL `yaml:"external_url,omitempty"`
}

// RegistryConfig controls how registry content is turned into metrics.
type RegistryConfig struct {
	// ExcludeGlobalServices hides Service Center's own global services
	// (e.g. SERVICECENTER) from the metrics.
	ExcludeGlobalServices bool `yaml:"exclude_global_services"`
	// GlobalServices names the services that are global besides
	// SERVICECENTER, as Service Center's registry.service.globalVisible
	// setting (env CSE_SHARED_SERVICES) does; set it to the same names.
	GlobalServices []string `yaml:"global_services,omitempty"`
	// PerService controls the per-service metrics
	// (servicecomb_service_instances, servicecomb_service_info). The
	// per-(domain, project) counts are never filtered.
	PerService PerServiceConfig `yaml:"per_service"`
	// Quota are the limits the usage ratios divide by
	// (servicecomb_registry_service_usage_ratio, …_instance_usage_ratio).
	Quota QuotaConfig `yaml:"quota"`
}

// Defaults of registry.quota: Service Center's own (quota.cap.service.limit
// and quota.cap.instance.limit of its buildin quota plugin,
// server/plugin/quota/buildin/buildin.go).
const (
	DefaultServiceQuota  = 50000
	DefaultInstanceQuota = 150000
)

// QuotaConfig holds Service Center's quotas: set them to its
// quota.cap.service.limit and quota.cap.instance.limit (env QUOTA_SERVICE,
// QUOTA_INSTANCE) when those are changed.
type QuotaConfig struct {
	Services  int64 `yaml:"services"`
	Instances int64 `yaml:"instances"`
}

// DefaultMaxServices is registry.per_service.max_services.
const DefaultMaxServices = 100000

// PerServiceConfig bounds the per-service series, as kube-state-metrics'
// allow and deny lists do. A service is exposed when, for each label with
// an include list, one of its expressions matches, and no exclude
// expression matches. Expressions are RE2, anchored at both ends.
type PerServiceConfig struct {
	Enabled bool `yaml:"enabled"`
	// MaxServices caps the services exposed per source: past it the first
	// ones in the order of their labels are kept and the rest counted in
	// servicecomb_service_series_dropped.
	MaxServices int             `yaml:"max_services"`
	Include     ServiceMatchers `yaml:"include,omitempty"`
	Exclude     ServiceMatchers `yaml:"exclude,omitempty"`
}

// ServiceMatchers are regular expressions over a service's labels.
type ServiceMatchers struct {
	Domain  []string `yaml:"domain,omitempty"`
	Project []string `yaml:"project,omitempty"`
	App     []string `yaml:"app,omitempty"`
	Service []string `yaml:"service,omitempty"`
}

// AlarmsConfig controls the alarm center.
type AlarmsConfig struct {
	// InternalErrorAutoClear clears an InternalError alarm after this long
	// without a new occurrence; 0 disables auto-clearing.
	InternalErrorAutoClear model.Duration `yaml:"internal_error_auto_clear"`
}

// SourceConfig is one registry to watch. Exactly one of Etcd and
// ServiceCenter is set.
type SourceConfig struct {
	Name          string               `yaml:"name"`
	Etcd          *EtcdConfig          `yaml:"etcd,omitempty"`
	ServiceCenter *ServiceCenterConfig `yaml:"servicecenter,omitempty"`
}

// EtcdConfig reads the registry directly from Service Center's etcd backend.
type EtcdConfig struct {
	Endpoints      []string         `yaml:"endpoints"`
	Prefix         string           `yaml:"prefix"`
	TLSConfig      config.TLSConfig `yaml:"tls_config"`
	Username       string           `yaml:"username,omitempty"`
	Password       config.Secret    `yaml:"password,omitempty"`
	PasswordFile   string           `yaml:"password_file,omitempty"`
	DialTimeout    model.Duration   `yaml:"dial_timeout"`
	RequestTimeout model.Duration   `yaml:"request_timeout"`

	// fileSecret is what loading read from PasswordFile (see ReadPassword).
	fileSecret loadedSecret
}

// ServiceCenterConfig polls Service Center's REST API.
type ServiceCenterConfig struct {
	Endpoints        []string                `yaml:"endpoints"`
	PollInterval     model.Duration          `yaml:"poll_interval"`
	RequestTimeout   model.Duration          `yaml:"request_timeout"`
	HTTPClientConfig config.HTTPClientConfig `yaml:"http_config"`
	// Username and Password are Service Center RBAC credentials, exchanged
	// for a token via POST /v4/token.
	Username     string        `yaml:"username,omitempty"`
	Password     config.Secret `yaml:"password,omitempty"`
	PasswordFile string        `yaml:"password_file,omitempty"`
	fileSecret   loadedSecret  // what loading read from PasswordFile
	// LoginMaxFailures failed logins may be made in a row; after that, one
	// more every LoginFailureInterval, so that Service Center never bans
	// the account.
	LoginMaxFailures     int            `yaml:"login_max_failures"`
	LoginFailureInterval model.Duration `yaml:"login_failure_interval"`
}

// AlertingConfig controls sending alarms to Alertmanager.
type AlertingConfig struct {
	AlertnamePrefix   string               `yaml:"alertname_prefix"`
	ResendInterval    model.Duration       `yaml:"resend_interval"`
	ResolvedRetention model.Duration       `yaml:"resolved_retention"`
	QueueCapacity     int                  `yaml:"queue_capacity"`
	MaxBatchSize      int                  `yaml:"max_batch_size"`
	ExternalLabels    map[string]string    `yaml:"external_labels,omitempty"`
	Severity          map[string]string    `yaml:"severity,omitempty"`
	Alertmanagers     []AlertmanagerConfig `yaml:"alertmanagers"`
}

// AlertmanagerConfig is one Alertmanager to send alerts to.
type AlertmanagerConfig struct {
	URL              *config.URL             `yaml:"url"`
	Timeout          model.Duration          `yaml:"timeout"`
	HTTPClientConfig config.HTTPClientConfig `yaml:"http_config"`
}

// Default returns the configuration used for an empty file: all defaults, no
// sources and no Alertmanagers.
func Default() *Config {
	return &Config{
		Registry: RegistryConfig{ExcludeGlobalServices: true,
			PerService: PerServiceConfig{Enabled: true, MaxServices: DefaultMaxServices},
			Quota:      QuotaConfig{Services: DefaultServiceQuota, Instances: DefaultInstanceQuota}},
		Alarms: AlarmsConfig{InternalErrorAutoClear: DefaultInternalErrorAutoClear},
		Alerting: AlertingConfig{
			AlertnamePrefix:   defaultAlertnamePrefix,
			ResendInterval:    defaultResendInterval,
			ResolvedRetention: defaultResolvedRetention,
			QueueCapacity:     defaultQueueCapacity,
			MaxBatchSize:      defaultMaxBatchSize,
		},
	}
}

// defaulter is implemented by list/pointer element types that have defaults.
// The decoder calls setDefaults on every such value it creates, before
// filling it from the file.
type defaulter interface {
	setDefaults()
}

// DefaultEtcdConfig returns an etcd source section with every default set
// and no endpoints, as the decoder starts each one written in a file.
func DefaultEtcdConfig() EtcdConfig {
	return EtcdConfig{
		Prefix:         DefaultEtcdPrefix,
		DialTimeout:    defaultEtcdDialTimeout,
		RequestTimeout: defaultEtcdRequestTimeout,
	}
}

// DefaultServiceCenterConfig returns a Service Center source section with
// every default set and no endpoints.
func DefaultServiceCenterConfig() ServiceCenterConfig {
	return ServiceCenterConfig{
		PollInterval:         defaultSCPollInterval,
		RequestTimeout:       defaultSCRequestTimeout,
		HTTPClientConfig:     config.DefaultHTTPClientConfig,
		LoginMaxFailures:     defaultSCLoginMaxFailures,
		LoginFailureInterval: defaultSCLoginFailureInterval,
	}
}

// DefaultAlertmanagerConfig returns an Alertmanager entry with every default
// set and no URL.
func DefaultAlertmanagerConfig() AlertmanagerConfig {
	return AlertmanagerConfig{
		Timeout:          defaultAlertmanagerTimeout,
		HTTPClientConfig: config.DefaultHTTPClientConfig,
	}
}

func (e *EtcdConfig) setDefaults()          { *e = DefaultEtcdConfig() }
func (s *ServiceCenterConfig) setDefaults() { *s = DefaultServiceCenterConfig() }
func (a *AlertmanagerConfig) setDefaults()  { *a = DefaultAlertmanagerConfig() }

// Load reads and parses the configuration file. Relative file paths inside it
// (password_file and the files of tls_config / http_config) are resolved
// against the directory of filename.
func Load(filename string) (*Config, error) {
	data, err := os.ReadFile(filename)
	if err != nil {
		return nil, fmt.Errorf("reading config file: %w", err)
	}
	return Parse(data, filename)
}

// Parse parses data read from filename, resolving relative file paths
// against filename's directory as Load does. Callers that must look at the
// bytes themselves (see IsBlank) read the file once and parse what they saw.
func Parse(data []byte, filename string) (*Config, error) {
	return load(data, filename, filepath.Dir(filename))
}

// IsBlank reports whether data holds no YAML document or an empty one:
// whitespace, comments, "---" or "~" only. Such a file loads as the defaults, with no sources and no
// Alertmanagers, which is also what a file caught half-written looks like.
func IsBlank(data []byte) bool {
	if len(bytes.TrimSpace(data)) == 0 {
		return true
	}
	doc, err := parseDocument(data)
	if err != nil {
		return false
	}
	return doc == nil || (len(doc.Content) == 1 && isNull(doc.Content[0]))
}

// LoadBytes parses configuration from data. filename is only used in error
// messages; relative file paths are left as they are, i.e. relative to the
// working directory.
func LoadBytes(data []byte, filename string) (*Config, error) {
	return load(data, filename, "")
}

// load runs the pipeline: parse, decode onto the defaults, resolve relative
// paths, validate. Validation runs after path resolution because it checks
// that password files are readable.
func load(data []byte, filename, dir string) (*Config, error) {
	doc, perr := parseDocument(data)
	if perr != nil {
		perr.File = filename
		return nil, perr
	}

	cfg := Default()
	d := newDecoder(filename)
	if doc != nil {
		d.decodeDocument(doc, cfg)
	}
	if dir != "" {
		cfg.setDirectory(dir)
	}
	for _, pe := range validate(cfg) {
		d.addValidationError(pe)
	}
	if err := joinErrors(d.errs); err != nil {
		return nil, err
	}
	return cfg, nil
}

// setDirectory makes every relative file path absolute-ish by joining it with
// dir, the way Prometheus does for its own config files.
func (c *Config) setDirectory(dir string) {
	for i := range c.Sources {
		if e := c.Sources[i].Etcd; e != nil {
			e.TLSConfig.SetDirectory(dir)
			e.PasswordFile = config.JoinDir(dir, e.PasswordFile)
		}
		if s := c.Sources[i].ServiceCenter; s != nil {
			s.HTTPClientConfig.SetDirectory(dir)
			s.PasswordFile = config.JoinDir(dir, s.PasswordFile)
		}
	}
	for i := range c.Alerting.Alertmanagers {
		c.Alerting.Alertmanagers[i].HTTPClientConfig.SetDirectory(dir)
	}
}

// loadedSecret is the content of a secret file as read while loading. It is
// unexported, so it is neither decoded, marshaled nor redacted, but it takes
// part in comparisons of configurations: a source whose password file
// changed between two loads compares unequal and is rebuilt.
type loadedSecret struct {
	file  string // the path it was read from
	value config.Secret
}

// ReadPassword returns the etcd password, read from password_file if set.
func (e *EtcdConfig) ReadPassword() (string, error) {
	return readPassword(e.Password, e.PasswordFile, e.fileSecret)
}

// ReadPassword returns the Service Center password, read from password_file
// if set.
func (s *ServiceCenterConfig) ReadPassword() (string, error) {
	return readPassword(s.Password, s.PasswordFile, s.fileSecret)
}

// readPassword returns the password of a section. A configuration that was
// loaded already holds the file's content, read once by validation, so that
// every component sees the same password for one load and a reload re-reads
// the file (rotation). Sections built in code are read now.
func readPassword(password config.Secret, file string, loaded loadedSecret) (string, error) {
	if file == "" {
		return string(password), nil
	}
	if loaded.file == file {
		return string(loaded.value), nil
	}
	p, err := readSecretFile(file)
	if err != nil {
		return "", fmt.Errorf("reading password_file: %w", err)
	}
	return p, nil
}

// readSecretFile returns the file's content without the trailing newline
// that editors and `echo` add, which is never part of a password.
func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

const secretPlaceholder = "<secret>"

// Redacted returns the effective configuration as YAML with every secret
// replaced by "<secret>" and passwords inside URLs by "xxxxx". It does not rely
// on config.Secret's own marshaling, which a process-wide switch
// (config.MarshalSecretValue) can turn off.
func (c *Config) Redacted() ([]byte, error) {
	cp := *c
	redactSecrets(reflect.ValueOf(&cp).Elem())
	// Endpoints are plain strings, so redactSecrets cannot know they are URLs
	// that may carry credentials.
	for _, s := range cp.Sources {
		if s.Etcd != nil {
			s.Etcd.Endpoints = redactURLs(s.Etcd.Endpoints)
		}
		if s.ServiceCenter != nil {
			s.ServiceCenter.Endpoints = redactURLs(s.ServiceCenter.Endpoints)
		}
	}

	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2) // the indentation used in the documented example
	if err := enc.Encode(&cp); err != nil {
		return nil, fmt.Errorf("marshaling config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("marshaling config: %w", err)
	}
	return buf.Bytes(), nil
}

// String returns the redacted YAML form of the configuration.
func (c *Config) String() string {
	b, err := c.Redacted()
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return string(b)
}

// redactURLs returns a copy of urls with embedded passwords hidden.
func redactURLs(urls []string) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = redactURL(u)
	}
	return out
}

// redactSecrets replaces every non-empty config.Secret reachable from v (which
// must be settable) with the placeholder. Pointers, slices and maps are
// copied before they are modified, so the value v was copied from is never
// changed.
func redactSecrets(v reflect.Value) {
	if v.Type() == reflect.TypeFor[config.Secret]() {
		if v.String() != "" {
			v.SetString(secretPlaceholder)
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		cp := reflect.New(v.Type().Elem())
		cp.Elem().Set(v.Elem())
		redactSecrets(cp.Elem())
		v.Set(cp)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				redactSecrets(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.IsNil() {
			return
		}
		cp := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(cp, v)
		for i := 0; i < cp.Len(); i++ {
			redactSecrets(cp.Index(i))
		}
		v.Set(cp)
	case reflect.Map:
		if v.IsNil() {
			return
		}
		cp := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			val := reflect.New(v.Type().Elem()).Elem()
			val.Set(it.Value())
			redactSecrets(val)
			cp.SetMapIndex(it.Key(), val)
		}
		v.Set(cp)
	}
}
