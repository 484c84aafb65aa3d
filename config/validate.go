package config

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
)

// validSeverities are the values allowed in alerting.severity, in the order
// they are listed in error messages.
func validSeverities() []string { return []string{"critical", "warning", "info"} }

// problems collects validation errors; each carries the path of the
// offending key so that the caller can attach the line number.
type problems []pathError

func (ps *problems) addf(p keyPath, format string, args ...any) {
	*ps = append(*ps, errorf(p, format, args...))
}

// validate checks the semantic rules the YAML types cannot express. It may
// normalise values the way prometheus/common's own validation does (e.g.
// bearer_token becomes authorization).
func validate(c *Config) []pathError {
	var ps problems
	ps.global(&c.Global, keyPath{"global"})
	ps.registry(&c.Registry, keyPath{"registry"})
	ps.sources(c.Sources, keyPath{"sources"})
	ps.alerting(&c.Alerting, keyPath{"alerting"})
	return ps
}

func (ps *problems) global(g *GlobalConfig, p keyPath) {
	if g.ExternalURL != nil {
		if err := checkHTTPURL(g.ExternalURL.URL); err != nil {
			ps.addf(p.key("external_url"), "%v", err)
		}
	}
}

func (ps *problems) registry(r *RegistryConfig, p keyPath) {
	ps.perService(&r.PerService, p.key("per_service"))
	// A limit of 0 would make every ratio infinite; Service Center skips
	// its usage gauge then, the exporter refuses it.
	if r.Quota.Services <= 0 {
		ps.addf(p.key("quota").key("services"), "must be more than 0, got %d", r.Quota.Services)
	}
	if r.Quota.Instances <= 0 {
		ps.addf(p.key("quota").key("instances"), "must be more than 0, got %d", r.Quota.Instances)
	}
	for i, name := range r.GlobalServices {
		// Service Center reads globalVisible as one comma-separated string
		// and compares names exactly.
		switch {
		case name == "":
			ps.addf(p.key("global_services").index(i), "empty service name")
		case strings.Contains(name, ","):
			ps.addf(p.key("global_services").index(i), "%q: one name per item (Service Center splits globalVisible at commas)", name)
		case strings.TrimSpace(name) != name:
			ps.addf(p.key("global_services").index(i), "%q: leading or trailing space would never match a service name", name)
		}
	}
}

func (ps *problems) perService(c *PerServiceConfig, p keyPath) {
	if c.MaxServices < 0 {
		ps.addf(p.key("max_services"), "must be 0 or more, got %d", c.MaxServices)
	}
	for _, m := range []struct {
		key string
		ms  *ServiceMatchers
	}{{"include", &c.Include}, {"exclude", &c.Exclude}} {
		for _, l := range []struct {
			key   string
			exprs []string
		}{{"domain", m.ms.Domain}, {"project", m.ms.Project}, {"app", m.ms.App}, {"service", m.ms.Service}} {
			for i, expr := range l.exprs {
				if _, err := regexp.Compile("^(?:" + expr + ")$"); err != nil {
					ps.addf(p.key(m.key).key(l.key).index(i), "bad regular expression: %v", err)
				}
			}
		}
	}
}

func (ps *problems) sources(sources []SourceConfig, p keyPath) {
	firstUse := map[string]int{} // source name -> index of the first source using it
	for i := range sources {
		s := &sources[i]
		sp := p.index(i)
		switch first, dup := firstUse[s.Name]; {
		case s.Name == "":
			ps.addf(sp.key("name"), "is required")
		case dup:
			ps.addf(sp.key("name"), "duplicate source name %q (already used by %s)", s.Name, p.index(first))
		default:
			firstUse[s.Name] = i
		}
		if (s.Etcd == nil) == (s.ServiceCenter == nil) {
			ps.addf(sp, "exactly one of etcd, servicecenter must be set")
		}
		if s.Etcd != nil {
			ps.etcd(s.Etcd, sp.key("etcd"))
		}
		if s.ServiceCenter != nil {
			ps.serviceCenter(s.ServiceCenter, sp.key("servicecenter"))
		}
	}
}

func (ps *problems) etcd(e *EtcdConfig, p keyPath) {
	ps.endpoints(e.Endpoints, p.key("endpoints"))
	if !strings.HasPrefix(e.Prefix, "/") {
		ps.addf(p.key("prefix"), "%q must start with '/'", e.Prefix)
	}
	if err := e.TLSConfig.Validate(); err != nil {
		ps.addf(p.key("tls_config"), "%v", err)
	}
	ps.password(e.Password, e.PasswordFile, &e.fileSecret, p)
	ps.positive(p.key("dial_timeout"), e.DialTimeout)
	ps.positive(p.key("request_timeout"), e.RequestTimeout)
}

func (ps *problems) serviceCenter(s *ServiceCenterConfig, p keyPath) {
	ps.endpoints(s.Endpoints, p.key("endpoints"))
	ps.positive(p.key("poll_interval"), s.PollInterval)
	ps.positive(p.key("request_timeout"), s.RequestTimeout)
	ps.httpClient(&s.HTTPClientConfig, p.key("http_config"))
	ps.password(s.Password, s.PasswordFile, &s.fileSecret, p)
	if s.LoginMaxFailures < 1 {
		ps.addf(p.key("login_max_failures"), "must be at least 1, got %d", s.LoginMaxFailures)
	}
	ps.positive(p.key("login_failure_interval"), s.LoginFailureInterval)
}

func (ps *problems) alerting(a *AlertingConfig, p keyPath) {
	switch {
	case a.AlertnamePrefix == "":
		// An empty prefix would produce alert names equal to bare alarm ids,
		// colliding with other sources of alerts.
		ps.addf(p.key("alertname_prefix"), "must not be empty")
	case !utf8.ValidString(a.AlertnamePrefix):
		ps.addf(p.key("alertname_prefix"), "must be valid UTF-8 (it becomes part of the alertname label value)")
	}
	ps.positive(p.key("resend_interval"), a.ResendInterval)
	if a.ResolvedRetention < 0 {
		ps.addf(p.key("resolved_retention"), "must not be negative")
	}
	if a.QueueCapacity <= 0 {
		ps.addf(p.key("queue_capacity"), "must be greater than 0, got %d", a.QueueCapacity)
	}
	if a.MaxBatchSize <= 0 {
		ps.addf(p.key("max_batch_size"), "must be greater than 0, got %d", a.MaxBatchSize)
	}
	ps.externalLabels(a.ExternalLabels, p.key("external_labels"))
	ps.severity(a.Severity, p.key("severity"))
	firstUse := map[string]int{} // redacted URL -> index of the first Alertmanager with it
	for i := range a.Alertmanagers {
		ap := p.key("alertmanagers").index(i)
		ps.alertmanager(&a.Alertmanagers[i], ap)
		if u := a.Alertmanagers[i].URL; u != nil && u.URL != nil {
			// Alerts would be sent twice to the same Alertmanager.
			url := u.Redacted()
			if first, dup := firstUse[url]; dup {
				ps.addf(ap.key("url"), "%s is listed twice (first at %s)", url, p.key("alertmanagers").index(first))
			} else {
				firstUse[url] = i
			}
		}
	}
}

func (ps *problems) externalLabels(labels map[string]string, p keyPath) {
	for _, name := range sortedKeys(labels) {
		lp := p.key(name)
		switch {
		case !model.LegacyValidation.IsValidLabelName(name):
			ps.addf(lp, "%q is not a valid label name (must match [a-zA-Z_][a-zA-Z0-9_]*)", name)
		case strings.HasPrefix(name, "__"):
			ps.addf(lp, "label names starting with \"__\" are reserved for internal use")
		}
		if !utf8.ValidString(labels[name]) {
			ps.addf(lp, "label value must be valid UTF-8")
		}
	}
}

func (ps *problems) severity(severity map[string]string, p keyPath) {
	valid := validSeverities()
	for _, alarm := range sortedKeys(severity) {
		if s := severity[alarm]; !slices.Contains(valid, s) {
			ps.addf(p.key(alarm), "%q is not one of %s", s, strings.Join(valid, ", "))
		}
	}
}

func (ps *problems) alertmanager(am *AlertmanagerConfig, p keyPath) {
	switch {
	case am.URL == nil || am.URL.URL == nil:
		ps.addf(p.key("url"), "is required")
	default:
		if err := checkHTTPURL(am.URL.URL); err != nil {
			ps.addf(p.key("url"), "%v", err)
		}
	}
	ps.positive(p.key("timeout"), am.Timeout)
	ps.httpClient(&am.HTTPClientConfig, p.key("http_config"))
}

// httpClient runs prometheus/common's validation, which its UnmarshalYAML
// would normally do, plus the nested TLS and OAuth2 checks that its
// Validate leaves to their own UnmarshalYAML methods.
func (ps *problems) httpClient(hc *config.HTTPClientConfig, p keyPath) {
	if err := hc.Validate(); err != nil {
		ps.addf(p, "%v", err)
	}
	if err := hc.TLSConfig.Validate(); err != nil {
		ps.addf(p.key("tls_config"), "%v", err)
	}
	if hc.OAuth2 != nil {
		op := p.key("oauth2")
		if err := hc.OAuth2.ProxyConfig.Validate(); err != nil {
			ps.addf(op, "%v", err)
		}
		if err := hc.OAuth2.TLSConfig.Validate(); err != nil {
			ps.addf(op.key("tls_config"), "%v", err)
		}
	}
}

// password checks the password / password_file pair of the section at p.
// The file is read now, the only time for this load, so that a typo fails
// at startup, not at the first connection attempt; its content is kept in
// loaded for ReadPassword.
func (ps *problems) password(password config.Secret, file string, loaded *loadedSecret, p keyPath) {
	switch {
	case file == "":
	case password != "":
		ps.addf(p.key("password_file"), "password and password_file are mutually exclusive")
	default:
		v, err := readSecretFile(file)
		if err != nil {
			ps.addf(p.key("password_file"), "%v", err)
			return
		}
		*loaded = loadedSecret{file: file, value: config.Secret(v)}
	}
}

func (ps *problems) endpoints(endpoints []string, p keyPath) {
	if len(endpoints) == 0 {
		ps.addf(p, "at least one endpoint is required")
		return
	}
	for i, ep := range endpoints {
		u, err := url.Parse(ep)
		if err == nil {
			err = checkHTTPURL(u)
		}
		// url.Error repeats the whole URL, password included.
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		if err != nil {
			ps.addf(p.index(i), "invalid endpoint %q: %v", redactURL(ep), err)
		}
	}
}

func (ps *problems) positive(p keyPath, d model.Duration) {
	if d <= 0 {
		ps.addf(p, "must be greater than 0, got %s", d)
	}
}

// checkHTTPURL accepts absolute http and https URLs with a host.
func checkHTTPURL(u *url.URL) error {
	if u == nil || u.String() == "" {
		return errors.New("must not be empty")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("URL %q must use the http or https scheme", u.Redacted())
	}
	if u.Host == "" {
		return fmt.Errorf("URL %q has no host", u.Redacted())
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("URL %q has port %s, not one of 1-65535", u.Redacted(), port)
		}
	}
	return nil
}

// redactURL hides a password embedded in a URL. Strings that do not parse are
// returned unchanged except for any userinfo-looking prefix, so that neither
// error messages nor Redacted output can echo a password.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if _, rest, found := strings.Cut(raw, "@"); found {
			return "xxxxx@" + rest
		}
		return raw
	}
	return u.Redacted()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
