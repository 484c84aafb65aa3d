// Package servicecenter is the registry source that polls Apache ServiceComb
// Service Center's REST API: the cache dump for the counts, the alarm list
// to mirror into the exporter's alarm center, and the health and version of
// every endpoint of the cluster.
//
// The counts are computed by feeding every service and instance of the dump
// to a fresh registry.State, exactly as the etcd source feeds its list, so
// that both sources count identically (global services, UNKNOWN frameworks,
// bad data).
package servicecenter

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	commoncfg "github.com/prometheus/common/config"

	"github.com/servicecomb/servicecomb_exporter/alarm"
	"github.com/servicecomb/servicecomb_exporter/config"
	"github.com/servicecomb/servicecomb_exporter/registry"
	"github.com/servicecomb/servicecomb_exporter/source/internal/sourcekit"
)

// Type is the source type reported in snapshots.
const Type = "servicecenter"

// Defaults for Options and configuration fields left zero.
const (
	DefaultMinBackoff = 250 * time.Millisecond
	DefaultMaxBackoff = 30 * time.Second
)

// httpClientName names the HTTP client in Prometheus' common config.
const httpClientName = "servicecomb_exporter_servicecenter"

// logInterval rate-limits repeated failure warnings per endpoint; every
// failure is still counted.
const logInterval = 10 * time.Second

// StatusReporter is told when the source loses and regains its backend.
type StatusReporter = sourcekit.StatusReporter

// Alarms is the part of the alarm center the source mirrors Service
// Center's alarms into.
type Alarms interface {
	RaiseFrom(source string, id alarm.ID, fields ...alarm.Field) error
	ClearFrom(source string, id alarm.ID)
	List() []alarm.Alarm
	Definition(id alarm.ID) alarm.Definition
}

// Options configure a Source.
type Options struct {
	Name   string
	Config config.ServiceCenterConfig
	// Rules are the counting rules and whether per-service counts are kept.
	Rules  registry.Rules
	Logger log.Logger
	Status StatusReporter
	// Churn receives the instance registrations and deregistrations found
	// between two polls; as etcd.Options.Churn.
	Churn *registry.ChurnCounter
	// Alarms receives Service Center's alarms and AuthenticationFailed;
	// nil leaves them alone.
	Alarms Alarms
	// Logins paces failed logins. The source manager passes the same one
	// to every Source it builds for one configured source, which then
	// adopts its credentials when it starts running; nil gives the source
	// a limiter of its own, with its credentials adopted at once.
	Logins *LoginLimiter

	// Retry backoff after a failed poll; zero means the default.
	MinBackoff time.Duration
	MaxBackoff time.Duration

	// now is the clock of tokens and logins, set by the package's tests
	// only; nil means time.Now.
	now func() time.Time
}

// endpoint is one Service Center of the cluster.
type endpoint struct {
	url  string // without trailing slash; used for requests
	name string // url with any password redacted; used in messages and as alarm source

	errors atomic.Uint64

	mu     sync.Mutex // guards status
	status registry.EndpointStatus
}

// Source polls a Service Center cluster. Create it with New and run it with
// Run.
type Source struct {
	opts           Options
	layout         registry.Layout
	client         *http.Client
	password       string
	pollInterval   time.Duration
	requestTimeout time.Duration
	endpoints      []*endpoint

	// current is the index of the endpoint last used successfully; the
	// next poll tries it first. Poll goroutine only.
	current int

	tokenMu sync.Mutex
	token   token
	now     func() time.Time // Options.now or time.Now

	logins               *LoginLimiter
	sharedLogins         bool
	cred                 string // credentials(username, password)
	loginMaxFailures     int
	loginFailureInterval time.Duration

	// Poll goroutine only: the authentication failure logged last ("" if
	// none), and what Service Center listed last per mirrored alarm.
	authLogged string
	mirrored   map[mirrorKey]string

	decodeErrors sourcekit.DecodeErrors

	logMu   sync.Mutex
	lastLog map[string]time.Time

	// Poll goroutine only: the instances of the last successful poll, to
	// count what the next one adds and removes.
	instances instanceSet

	mu    sync.Mutex // guards state, churn and snap
	state *registry.State
	churn *registry.ChurnCounter
	snap  registry.Snapshot // counters and health; Counts filled on demand
}

// New returns a source for a configuration that config has validated and
// resolved (defaults set, password read); it does not check it again. It
// builds the HTTP client, so a client that cannot be built fails here.
func New(o Options) (*Source, error) {
	if o.Name == "" {
		return nil, errors.New("servicecenter source: empty name")
	}
	if o.Logger == nil {
		o.Logger = log.NewNopLogger()
	}
	if o.Status == nil {
		o.Status = sourcekit.NopStatus{}
	}
	sourcekit.SetDefault(&o.MinBackoff, DefaultMinBackoff)
	sourcekit.SetDefault(&o.MaxBackoff, DefaultMaxBackoff)

	s := &Source{
		opts:           o,
		layout:         registry.NewLayout(config.DefaultEtcdPrefix), // keys are synthesised in etcd's layout
		pollInterval:   time.Duration(o.Config.PollInterval),
		requestTimeout: time.Duration(o.Config.RequestTimeout),
		lastLog:        map[string]time.Time{},
		now:            o.now,
		mirrored:       map[mirrorKey]string{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	for _, e := range o.Config.Endpoints {
		// config validated the URL; parsing is only for the redacted name.
		u, err := url.Parse(e)
		if err != nil {
			return nil, fmt.Errorf("servicecenter source %s: endpoint: %w", o.Name, err)
		}
		ep := &endpoint{url: strings.TrimSuffix(e, "/"), name: strings.TrimSuffix(u.Redacted(), "/")}
		ep.status.Endpoint = ep.name
		s.endpoints = append(s.endpoints, ep)
	}
	password, err := o.Config.ReadPassword()
	if err != nil {
		return nil, fmt.Errorf("servicecenter source %s: %w", o.Name, err)
	}
	s.password = password
	s.cred = credentials(o.Config.Username, password)
	s.loginMaxFailures = o.Config.LoginMaxFailures
	s.loginFailureInterval = time.Duration(o.Config.LoginFailureInterval)
	s.logins, s.sharedLogins = o.Logins, o.Logins != nil
	if !s.sharedLogins {
		s.logins = NewLoginLimiter()
		s.logins.adopt(s.cred)
	}
	s.client, err = commoncfg.NewClientFromConfig(o.Config.HTTPClientConfig, httpClientName)
	if err != nil {
		return nil, fmt.Errorf("servicecenter source %s: http_config: %w", o.Name, err)
	}
	s.state = registry.NewState(s.layout, o.Rules, nil)
	if s.churn = o.Churn; s.churn == nil {
		s.churn = registry.NewChurnCounter()
	}
	s.instances = newInstanceSet(s.layout)
	s.snap = sourcekit.NewSnapshot(o.Name, Type)
	return s, nil
}

// Name is the configured source name.
func (s *Source) Name() string { return s.opts.Name }

// Snapshot returns the source's counts and health. The counts are those of
// the last successful poll, kept while Service Center is unreachable.
func (s *Source) Snapshot() registry.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sourcekit.Snapshot(s.snap, s.state, s.churn, &s.decodeErrors)
}

// Services returns the source's per-service counts.
func (s *Source) Services() registry.ServiceSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sourcekit.Services(s.snap, s.state)
}

// Endpoints returns the status of every configured endpoint, in
// configuration order.
func (s *Source) Endpoints() []registry.EndpointStatus {
	out := make([]registry.EndpointStatus, len(s.endpoints))
	for i, ep := range s.endpoints {
		ep.mu.Lock()
		out[i] = ep.status
		ep.mu.Unlock()
		out[i].Errors = ep.errors.Load()
	}
	return out
}

// Run polls every poll interval until ctx is done. After a failed poll it
// retries sooner, with capped exponential backoff and jitter, but never
// later than the poll interval. It returns nil when ctx ends.
func (s *Source) Run(ctx context.Context) error {
	if s.sharedLogins {
		// Only now: a Source built by a reload that fails never runs, and
		// must not take the credentials over.
		s.logins.adopt(s.cred)
	}
	backoff := s.opts.MinBackoff
	for {
		wait := s.pollInterval
		if err := s.pollOnce(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			wait = min(sourcekit.Jitter(backoff), s.pollInterval)
			backoff = min(backoff*2, s.opts.MaxBackoff)
			level.Debug(s.opts.Logger).Log("msg", "polling Service Center again", "after", wait, "err", err)
		} else {
			backoff = s.opts.MinBackoff
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
	}
}

// pollOnce probes every endpoint, then reads the registry and the alarms
// from the first endpoint that works, starting with the one used last, and
// records the outcome. It is not safe for concurrent use.
func (s *Source) pollOnce(ctx context.Context) error {
	start := time.Now()
	s.probeAll(ctx)

	var failures []string
	for _, i := range s.candidates(s.current) {
		ep := s.endpoints[i]
		state, ids, decodeErrs, err := s.fetchRegistry(ctx, ep)
		var alarms []scAlarm
		if err == nil {
			alarms, err = s.fetchAlarms(ctx, ep)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var aerr *authError
			if errors.As(err, &aerr) && aerr.quiet {
				return err // a reload is under way: retried, not reported
			}
			if errors.As(err, &aerr) {
				// About the account, not the endpoint: another endpoint
				// would only cost another login.
				if !aerr.Deferred {
					ep.errors.Add(1) // logged once, by authFailed
				}
				return s.pollFailed(fmt.Errorf("servicecenter source %s: %w", s.opts.Name, aerr), aerr)
			}
			s.endpointFailed(ep, err)
			failures = append(failures, fmt.Sprintf("%s: %v", ep.name, err))
			continue
		}
		if i != s.current {
			level.Info(s.opts.Logger).Log("msg", "using Service Center endpoint", "endpoint", ep.name,
				"previous", s.endpoints[s.current].name)
		}
		s.current = i
		s.commit(state, ids, decodeErrs, start)
		s.authSucceeded()
		s.mirrorAlarms(ep.name, alarms)
		return nil
	}
	return s.pollFailed(fmt.Errorf("servicecenter source %s: no endpoint usable: %s", s.opts.Name, strings.Join(failures, "; ")), nil)
}

// pollFailed records a failed poll; aerr is set when Service Center
// refused the account.
func (s *Source) pollFailed(err error, aerr *authError) error {
	s.mu.Lock()
	s.snap.Syncs["failure"]++
	s.snap.Up = false
	s.snap.LastError = err.Error()
	s.mu.Unlock()
	if aerr != nil {
		s.authFailed(aerr)
	} else {
		level.Warn(s.opts.Logger).Log("msg", "Service Center unreachable", "err", err)
	}
	s.opts.Status.SourceDown(s.opts.Name, err.Error())
	return err
}

// candidates orders the endpoints for one request: first, then the
// others in configuration order; among them, those whose last health probe
// succeeded before the others. A poll starts with the endpoint it used
// last, a cache dump with the first.
func (s *Source) candidates(first int) []int {
	n := len(s.endpoints)
	healthy := make([]int, 0, n)
	var others []int
	for k := range n {
		i := (first + k) % n
		ep := s.endpoints[i]
		ep.mu.Lock()
		ok := ep.status.Healthy
		ep.mu.Unlock()
		if ok {
			healthy = append(healthy, i)
		} else {
			others = append(others, i)
		}
	}
	return append(healthy, others...)
}

func (s *Source) commit(state *registry.State, ids []instanceID, decodeErrs [registry.NumKinds]uint64, start time.Time) {
	for k, n := range decodeErrs {
		s.decodeErrors.Add(registry.Kind(k), n)
	}
	s.mu.Lock()
	s.instances.replace(ids, s.churn)
	s.state = state
	s.snap.Up, s.snap.Synced = true, true
	s.snap.LastSync = time.Now()
	s.snap.SyncDuration = registry.Duration(s.snap.LastSync.Sub(start))
	s.snap.LastError = ""
	s.snap.Syncs["success"]++
	s.mu.Unlock()
	s.opts.Status.SourceUp(s.opts.Name)
	level.Debug(s.opts.Logger).Log("msg", "registry synced", "duration", time.Since(start))
}

// endpointFailed counts and logs (rate-limited) a failed request.
func (s *Source) endpointFailed(ep *endpoint, err error) {
	n := ep.errors.Add(1)
	if s.shouldLog("endpoint " + ep.name) {
		level.Warn(s.opts.Logger).Log("msg", "Service Center request failed", "endpoint", ep.name, "err", err, "errors_total", n)
	}
}

// shouldLog reports whether a message of this kind may be logged now.
func (s *Source) shouldLog(kind string) bool {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	now := time.Now()
	if now.Sub(s.lastLog[kind]) < logInterval {
		return false
	}
	s.lastLog[kind] = now
	return true
}
