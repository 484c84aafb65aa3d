// Package forwarder sends every alarm transition to every configured
// Alertmanager through its API v2, with the delivery guarantees Prometheus
// gives its own alerts: active alarms are re-sent every resend interval with
// an end time four intervals ahead, cleared ones are re-sent as resolved for
// a retention period, so that an Alertmanager that was down or restarted
// ends up with the right state. Each Alertmanager has its own queue and send
// loop.
package forwarder

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"

	"github.com/servicecomb/servicecomb_exporter/alarm"
	"github.com/servicecomb/servicecomb_exporter/config"
	"github.com/servicecomb/servicecomb_exporter/internal/reconcile"
)

// DefaultFlushTimeout bounds how long shutdown waits for the queues.
const DefaultFlushTimeout = 5 * time.Second

// AlarmSource is what the forwarder reads besides the events: alarm.Center.
// The list is re-read at every resend, so that a transition the bus had
// to drop is still forwarded. OnEvent never calls it: the event carries
// what it needs, and the delivery goroutine must not wait.
type AlarmSource interface {
	Definition(id alarm.ID) alarm.Definition
	List() []alarm.Alarm
}

// Options configure a Forwarder.
type Options struct {
	Logger log.Logger
	Alarms AlarmSource
	// FlushTimeout bounds the flush of the queues at shutdown.
	FlushTimeout time.Duration
	// Now is the clock, for tests; default time.Now.
	Now func() time.Time
}

type key struct {
	source string
	id     alarm.ID
}

// Forwarder forwards alarms. Create it with New, subscribe OnEvent to the
// alarm center, configure it with ApplyConfig and run it with Run.
type Forwarder struct {
	opts    Options
	metrics *metrics

	mu        sync.Mutex
	mapping   Mapping
	retention time.Duration
	tracked   map[key]tracked                   // active alarms, and cleared ones within the retention
	ams       reconcile.Set[string, *runningAM] // by URL, credentials redacted
	runCtx    context.Context                   // set by Run
	resend    chan struct{}                     // the resend interval changed

	// onSent is handed to every Alertmanager created; set by benchmarks
	// before the first ApplyConfig.
	onSent func(batch []*models.PostableAlert, err error)
}

type tracked struct {
	alarm alarm.Alarm
	def   alarm.Definition
}

type runningAM struct {
	am     *alertmanager
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a forwarder with no Alertmanagers.
func New(o Options) *Forwarder {
	if o.Logger == nil {
		o.Logger = log.NewNopLogger()
	}
	if o.FlushTimeout == 0 {
		o.FlushTimeout = DefaultFlushTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	// The alerting settings come with the first ApplyConfig, resolved by
	// config; until then there is no Alertmanager to send to.
	return &Forwarder{
		opts:    o,
		metrics: newMetrics(),
		tracked: map[key]tracked{},
		resend:  make(chan struct{}, 1),
	}
}

// Collectors returns the forwarder's metrics, to register.
func (f *Forwarder) Collectors() []prometheus.Collector { return f.metrics.collectors() }

// OnEvent forwards one transition at once; subscribe it to the alarm
// center. It never blocks: it only queues.
func (f *Forwarder) OnEvent(ev alarm.Event) {
	t := tracked{ev.Alarm, ev.Definition}
	f.mu.Lock()
	defer f.mu.Unlock()
	k := key{t.alarm.Source, t.alarm.ID}
	if old, ok := f.tracked[k]; ok && t.alarm.UpdatedAt.Before(old.alarm.UpdatedAt) {
		return // older than what a resend already read from the list
	}
	f.tracked[k] = t
	f.enqueueLocked(t)
}

// Check reports whether ApplyConfig would accept cfg, changing nothing, so
// that a reload can check every part before applying any. config has
// validated cfg's values; what is left is what only building the clients
// shows.
func (f *Forwarder) Check(cfg *config.Config) error {
	for i, amc := range cfg.Alerting.Alertmanagers {
		if _, err := commoncfg.NewClientFromConfig(amc.HTTPClientConfig, "check"); err != nil {
			return fmt.Errorf("alerting.alertmanagers[%d].http_config: %w", i, err)
		}
		// The HTTP client reads credential files per request; a file that
		// cannot be read must stop the start-up (or the reload) instead.
		for key, file := range credentialFiles(amc.HTTPClientConfig) {
			if _, err := os.ReadFile(file); err != nil {
				return fmt.Errorf("alerting.alertmanagers[%d].http_config.%s: %w", i, key, err)
			}
		}
	}
	return nil
}

// credentialFiles returns the files an HTTP client configuration reads, by
// configuration key.
func credentialFiles(c commoncfg.HTTPClientConfig) map[string]string {
	files := map[string]string{
		"bearer_token_file":    c.BearerTokenFile,
		"tls_config.ca_file":   c.TLSConfig.CAFile,
		"tls_config.cert_file": c.TLSConfig.CertFile,
		"tls_config.key_file":  c.TLSConfig.KeyFile,
	}
	if c.BasicAuth != nil {
		files["basic_auth.password_file"] = c.BasicAuth.PasswordFile
		files["basic_auth.username_file"] = c.BasicAuth.UsernameFile
	}
	if c.Authorization != nil {
		files["authorization.credentials_file"] = c.Authorization.CredentialsFile
	}
	if c.OAuth2 != nil {
		files["oauth2.client_secret_file"] = c.OAuth2.ClientSecretFile
	}
	for key, file := range files {
		if file == "" {
			delete(files, key)
		}
	}
	return files
}

// ApplyConfig applies the alerting section and the external URL. Unchanged
// Alertmanagers keep their queues; on any error nothing changes.
func (f *Forwarder) ApplyConfig(cfg *config.Config) error {
	ac := cfg.Alerting
	specs := make([]reconcile.Spec[string, *runningAM], 0, len(ac.Alertmanagers))
	for _, amc := range ac.Alertmanagers {
		specs = append(specs, reconcile.Spec[string, *runningAM]{
			Key:         amc.URL.Redacted(),
			Fingerprint: amFingerprint{amc, ac.MaxBatchSize, ac.QueueCapacity},
			Build: func() (*runningAM, error) {
				am, err := newAlertmanager(amc, ac.MaxBatchSize, ac.QueueCapacity, f.opts.Logger, f.metrics)
				if err != nil {
					return nil, err
				}
				am.onSent = f.onSent
				return &runningAM{am: am}, nil
			},
		})
	}
	f.mu.Lock()
	change, err := f.ams.Update(specs)
	if err != nil {
		f.mu.Unlock()
		return err
	}
	if f.runCtx != nil {
		for _, c := range change.Started {
			f.startLocked(c.Child)
		}
	}
	oldResend := f.mapping.ResendInterval
	f.mapping = Mapping{
		AlertnamePrefix: ac.AlertnamePrefix,
		Severity:        ac.Severity,
		ExternalLabels:  ac.ExternalLabels,
		GeneratorURL:    generatorURL(cfg),
		ResendInterval:  time.Duration(ac.ResendInterval),
	}
	f.retention = time.Duration(ac.ResolvedRetention)
	f.metrics.alertmanagers.Set(float64(f.ams.Len()))
	// A new Alertmanager learns the current state at once, not at the
	// next resend.
	if len(change.Started) > 0 {
		alerts := f.alertsLocked()
		for _, c := range change.Started {
			c.Child.am.enqueue(alerts)
		}
	}
	f.mu.Unlock()
	if oldResend != time.Duration(ac.ResendInterval) {
		select {
		case f.resend <- struct{}{}:
		default:
		}
	}
	for _, st := range change.Stopped {
		f.stop(st.Child)
		// A replacement already owns the series of its URL.
		if st.Removed {
			f.metrics.forget(st.Child.am.url)
		}
	}
	return nil
}

type amFingerprint struct {
	Config   config.AlertmanagerConfig
	Batch    int
	Capacity int
}

// generatorURL links alerts to the exporter's alarms API.
func generatorURL(cfg *config.Config) string {
	if cfg.Global.ExternalURL == nil {
		return ""
	}
	return strings.TrimSuffix(cfg.Global.ExternalURL.String(), "/") + "/v4/default/admin/alarms"
}

func (f *Forwarder) startLocked(r *runningAM) {
	ctx, cancel := context.WithCancel(f.runCtx)
	r.cancel, r.done = cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		flushCtx, cancelFlush := context.WithCancel(context.Background())
		defer cancelFlush()
		go func() {
			// The flush deadline starts when the send loop is told to stop.
			select {
			case <-ctx.Done():
				timer := time.NewTimer(f.opts.FlushTimeout)
				defer timer.Stop()
				select {
				case <-timer.C:
					cancelFlush()
				case <-flushCtx.Done():
				}
			case <-flushCtx.Done():
			}
		}()
		r.am.run(ctx, flushCtx)
	}()
}

func (f *Forwarder) stop(r *runningAM) {
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
}

// Run starts the send loops and the resend loop, and blocks until ctx is
// done; it then flushes the queues (bounded by FlushTimeout) and returns.
func (f *Forwarder) Run(ctx context.Context) error {
	f.mu.Lock()
	f.runCtx = ctx
	for _, r := range f.ams.All() {
		f.startLocked(r)
	}
	interval := f.mapping.ResendInterval
	f.mu.Unlock()

	// Not configured yet: no resends until ApplyConfig sets the interval
	// (and signals f.resend).
	ticker := time.NewTicker(time.Hour)
	defer ticker.Stop()
	resetTicker(ticker, interval)
	for {
		select {
		case <-ctx.Done():
			f.mu.Lock()
			running := make([]*runningAM, 0, f.ams.Len())
			for _, r := range f.ams.All() {
				running = append(running, r)
			}
			f.mu.Unlock()
			for _, r := range running {
				f.stop(r)
			}
			return nil
		case <-f.resend:
			f.mu.Lock()
			interval = f.mapping.ResendInterval
			f.mu.Unlock()
			resetTicker(ticker, interval)
		case <-ticker.C:
			f.Resend()
		}
	}
}

// resetTicker makes t tick every interval, or stops it for an interval not
// configured yet.
func resetTicker(t *time.Ticker, interval time.Duration) {
	if interval <= 0 {
		t.Stop()
		return
	}
	t.Reset(interval)
}

// Resend re-reads the alarm list and sends every active alarm, and every
// alarm cleared within the retention, to every Alertmanager.
func (f *Forwarder) Resend() {
	var listed []tracked
	for _, a := range f.opts.Alarms.List() {
		listed = append(listed, tracked{a, f.opts.Alarms.Definition(a.ID)})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reconcileLocked(listed)
	alerts := f.alertsLocked() // also forgets alarms resolved beyond the retention
	for _, r := range f.ams.All() {
		r.am.enqueue(alerts)
	}
}

// reconcileLocked brings the tracked alarms in line with the list, in case
// the bus dropped a transition: listed alarms newer than tracked replace
// them, and active alarms no longer listed (emptied list) are resolved now.
func (f *Forwarder) reconcileLocked(listed []tracked) {
	seen := map[key]bool{}
	for _, t := range listed {
		k := key{t.alarm.Source, t.alarm.ID}
		seen[k] = true
		old, ok := f.tracked[k]
		if (!ok && t.alarm.Active()) || (ok && t.alarm.UpdatedAt.After(old.alarm.UpdatedAt)) {
			f.tracked[k] = t
		}
	}
	now := f.opts.Now()
	for k, t := range f.tracked {
		if !seen[k] && t.alarm.Active() {
			t.alarm.Status, t.alarm.ClearedAt, t.alarm.UpdatedAt = alarm.Cleared, now, now
			f.tracked[k] = t
		}
	}
}

// alertsLocked returns the alerts of every tracked alarm and forgets the
// ones resolved longer ago than the retention.
func (f *Forwarder) alertsLocked() []*models.PostableAlert {
	now := f.opts.Now()
	keys := make([]key, 0, len(f.tracked))
	for k, t := range f.tracked {
		if !t.alarm.Active() && now.Sub(t.alarm.ClearedAt) > f.retention {
			delete(f.tracked, k)
			continue
		}
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int { return cmp.Or(cmp.Compare(a.source, b.source), cmp.Compare(a.id, b.id)) })
	alerts := make([]*models.PostableAlert, 0, len(keys))
	for _, k := range keys {
		t := f.tracked[k]
		alerts = append(alerts, f.mapping.Alert(t.alarm, t.def, now))
	}
	return alerts
}

func (f *Forwarder) enqueueLocked(t tracked) {
	if f.ams.Len() == 0 {
		return
	}
	alerts := []*models.PostableAlert{f.mapping.Alert(t.alarm, t.def, f.opts.Now())}
	for _, r := range f.ams.All() {
		r.am.enqueue(alerts)
	}
}

// QueueLengths reports each Alertmanager's queue, for tests and the dump.
func (f *Forwarder) QueueLengths() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for url, r := range f.ams.All() {
		out[url] = r.am.queueLen()
	}
	return out
}
