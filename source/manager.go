// Package source runs the configured registry sources: it starts, restarts
// and stops them as the configuration changes, hands their snapshots to the
// collectors and the dump API, and turns their reachability into the alarm
// center's BackendConnectionRefuse alarm.
package source

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/servicecomb/servicecomb_exporter/alarm"
	"github.com/servicecomb/servicecomb_exporter/config"
	"github.com/servicecomb/servicecomb_exporter/internal/reconcile"
	"github.com/servicecomb/servicecomb_exporter/registry"
	"github.com/servicecomb/servicecomb_exporter/source/etcd"
	"github.com/servicecomb/servicecomb_exporter/source/servicecenter"
)

// Source is one running registry source.
type Source interface {
	Name() string
	Run(ctx context.Context) error
	Snapshot() registry.Snapshot
	Services() registry.ServiceSnapshot
	CacheDumper
}

// endpointProber is a source that probes every endpoint of its cluster,
// as the Service Center source does: the Service Center collector's
// metrics.
type endpointProber interface {
	Endpoints() []registry.EndpointStatus
}

var _ endpointProber = (*servicecenter.Source)(nil)

// Alarms is the part of the alarm center the manager and the sources
// drive: the exporter's own BackendConnectionRefuse, and the alarms
// mirrored from Service Centers.
type Alarms interface {
	Raise(id alarm.ID, fields ...alarm.Field) error
	Clear(id alarm.ID)
	RaiseFrom(source string, id alarm.ID, fields ...alarm.Field) error
	ClearFrom(source string, id alarm.ID)
	List() []alarm.Alarm
	Definition(id alarm.ID) alarm.Definition
}

// DefaultCheckInterval is how often the manager checks that the alarm
// center agrees with the sources' state.
const DefaultCheckInterval = time.Second

// Manager owns the sources. Create it with NewManager, configure it with
// ApplyConfig and run it with Run.
type Manager struct {
	logger log.Logger
	alarms Alarms
	// CheckInterval is how often BackendConnectionRefuse is re-asserted
	// from the sources' state (level, not edge): an alarm removed through
	// the DELETE API while a source is still down comes back within one
	// interval. Set before Run; 0 means DefaultCheckInterval.
	CheckInterval time.Duration

	mu         sync.Mutex
	ctx        context.Context // set by Run; nil before
	sources    reconcile.Set[string, *running]
	order      []string // source names in configuration order
	generation uint64
	down       map[string]string // source name → why it is down
	// logins paces the logins of each Service Center source across the
	// Sources a reload builds for it, so that a reload does not reset it.
	logins map[string]*servicecenter.LoginLimiter
	// churn holds each source's registration counters across the Sources a
	// reload builds for it, so that a restart does not reset them.
	churn map[string]*registry.ChurnCounter
	wg    sync.WaitGroup

	// pending holds the alarm changes decided under mu, in order, until
	// applyAlarms applies them outside mu; applying serialises that.
	pending  []func(Alarms)
	applying sync.Mutex
}

type running struct {
	source     Source
	endpoints  []string // configured endpoints, credentials stripped
	generation uint64
	cancel     context.CancelFunc
	done       chan struct{}
}

// NewManager returns a manager with no sources.
func NewManager(logger log.Logger, alarms Alarms) *Manager {
	if logger == nil {
		logger = log.NewNopLogger()
	}
	return &Manager{logger: logger, alarms: alarms, down: map[string]string{},
		logins: map[string]*servicecenter.LoginLimiter{}, churn: map[string]*registry.ChurnCounter{}}
}

// ApplyConfig makes the running sources match cfg: unchanged sources keep
// running (and their counts), changed ones restart, removed ones stop. If
// any source cannot be built, nothing changes and the error names it.
func (m *Manager) ApplyConfig(cfg *config.Config) error {
	stopping, err := m.applyConfig(cfg)
	// Wait outside the lock: a stopping source may still report its status.
	for _, r := range stopping {
		if r.cancel != nil {
			r.cancel()
			<-r.done
		}
		level.Info(m.logger).Log("msg", "registry source stopped", "source", r.source.Name())
	}
	return err
}

func (m *Manager) applyConfig(cfg *config.Config) ([]*running, error) {
	defer m.applyAlarms() // after the unlock below
	m.mu.Lock()
	defer m.mu.Unlock()
	// Every source is built, the unchanged ones too, so that a mistake in
	// any of them fails the whole reload; the set keeps the running ones.
	specs := make([]reconcile.Spec[string, *running], 0, len(cfg.Sources))
	order := make([]string, 0, len(cfg.Sources))
	// registry.per_service's lists and cap, and registry.quota, are the
	// collector's, applied at scrape time: left out of the fingerprint,
	// changing them restarts no source (which keeps its counters). Turning
	// per_service on or off does: the sources keep service labels only
	// while it is on.
	reg := cfg.Registry
	reg.PerService = config.PerServiceConfig{Enabled: reg.PerService.Enabled}
	reg.Quota = config.QuotaConfig{}
	for i, sc := range cfg.Sources {
		m.generation++
		r, fingerprint, err := m.build(sc, reg, m.generation)
		if err != nil {
			return nil, fmt.Errorf("sources[%d] (%s): %w", i, sc.Name, err)
		}
		specs = append(specs, reconcile.Spec[string, *running]{Key: sc.Name, Fingerprint: fingerprint,
			Build: func() (*running, error) { return r, nil }})
		order = append(order, sc.Name)
	}
	// Reports from a replaced source are ignored from here on: its
	// generation is no longer the running one's.
	change, err := m.sources.Update(specs)
	if err != nil {
		return nil, err // a name used twice; the configuration refuses it first
	}
	m.order = order
	stopping := make([]*running, 0, len(change.Stopped))
	downChanged := false
	for _, st := range change.Stopped {
		name := st.Key
		if st.Removed {
			delete(m.churn, name)
			// Removed: its limiter and its AuthenticationFailed go too.
			if _, ok := m.logins[name]; ok {
				delete(m.logins, name)
				m.pending = append(m.pending, func(a Alarms) { a.ClearFrom(name, alarm.AuthenticationFailed) })
			}
		}
		if _, wasDown := m.down[name]; wasDown {
			delete(m.down, name)
			downChanged = true
		}
		stopping = append(stopping, st.Child)
	}
	if downChanged {
		m.updateAlarmLocked()
	}
	for _, c := range change.Started {
		if m.ctx != nil {
			m.startLocked(c.Child)
		}
		level.Info(m.logger).Log("msg", "registry source configured", "source", c.Key, "type", c.Child.source.Snapshot().Type)
	}
	return stopping, nil
}

// etcdFingerprint holds everything an etcd source is built from, including
// the password read from its file, so that a changed file restarts it.
type etcdFingerprint struct {
	Config   config.EtcdConfig
	Password string
	Registry config.RegistryConfig
}

// serviceCenterFingerprint is etcdFingerprint for a Service Center source.
type serviceCenterFingerprint struct {
	Config   config.ServiceCenterConfig
	Password string
	Registry config.RegistryConfig
}

// build makes the source sc, not yet running, and returns it with its
// fingerprint.
func (m *Manager) build(sc config.SourceConfig, reg config.RegistryConfig, generation uint64) (*running, any, error) {
	logger := log.With(m.logger, "source", sc.Name)
	status := &reporter{m: m, name: sc.Name, generation: generation}
	rules := registry.Rules{ExcludeGlobal: reg.ExcludeGlobalServices, GlobalServices: reg.GlobalServices, PerService: reg.PerService.Enabled}
	switch {
	case sc.Etcd != nil:
		password, err := sc.Etcd.ReadPassword()
		if err != nil {
			return nil, nil, err
		}
		s, err := etcd.New(etcd.Options{
			Name:   sc.Name,
			Config: *sc.Etcd,
			Rules:  rules,
			Logger: logger,
			Status: status,
			Churn:  m.churnCounterLocked(sc.Name),
		})
		if err != nil {
			return nil, nil, err
		}
		return &running{source: s, generation: generation, endpoints: stripCredentials(sc.Etcd.Endpoints)},
			etcdFingerprint{Config: *sc.Etcd, Password: password, Registry: reg}, nil
	case sc.ServiceCenter != nil:
		password, err := sc.ServiceCenter.ReadPassword()
		if err != nil {
			return nil, nil, err
		}
		s, err := servicecenter.New(servicecenter.Options{
			Name:   sc.Name,
			Config: *sc.ServiceCenter,
			Rules:  rules,
			Logger: logger,
			Status: status,
			Alarms: m.alarms,
			Logins: m.loginLimiterLocked(sc.Name),
			Churn:  m.churnCounterLocked(sc.Name),
		})
		if err != nil {
			return nil, nil, err
		}
		return &running{source: s, generation: generation, endpoints: stripCredentials(sc.ServiceCenter.Endpoints)},
			serviceCenterFingerprint{Config: *sc.ServiceCenter, Password: password, Registry: reg}, nil
	}
	return nil, nil, fmt.Errorf("no source type set")
}

// churnCounterLocked returns the registration counters of the source
// name, the same for every Source built for it.
func (m *Manager) churnCounterLocked(name string) *registry.ChurnCounter {
	c := m.churn[name]
	if c == nil {
		c = registry.NewChurnCounter()
		m.churn[name] = c
	}
	return c
}

// loginLimiterLocked returns the login limiter of the Service Center
// source name, the same for every Source built for it.
func (m *Manager) loginLimiterLocked(name string) *servicecenter.LoginLimiter {
	l := m.logins[name]
	if l == nil {
		l = servicecenter.NewLoginLimiter()
		m.logins[name] = l
	}
	return l
}

func (m *Manager) startLocked(r *running) {
	ctx, cancel := context.WithCancel(m.ctx)
	r.cancel, r.done = cancel, make(chan struct{})
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(r.done)
		if err := r.source.Run(ctx); err != nil {
			level.Error(m.logger).Log("msg", "registry source stopped", "source", r.source.Name(), "err", err)
		}
	}()
}

// Run starts the configured sources and blocks until ctx is done, then
// stops them all and waits for them.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	m.ctx = ctx
	for _, r := range m.sources.All() {
		m.startLocked(r)
	}
	m.mu.Unlock()
	interval := m.CheckInterval
	if interval <= 0 {
		interval = DefaultCheckInterval
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			m.wg.Wait()
			return nil
		case <-ticker.C:
			m.reconcile()
		}
	}
}

// reconcile makes BackendConnectionRefuse match the sources' state again
// when something else changed the alarm list: it is raised while a source
// is down and not active, cleared while none is and it is active. A raise
// that changes nothing is not repeated, so that the alarm's raise count
// and transitions only count real changes.
func (m *Manager) reconcile() {
	m.applying.Lock()
	defer m.applying.Unlock()
	// The list is read with every change decided so far applied and no
	// other being applied, so that it is compared with the state it shows.
	m.applyPendingLocked()
	active := false
	for _, a := range m.alarms.List() {
		if a.Source == "" && a.ID == alarm.BackendConnectionRefuse && a.Active() {
			active = true
		}
	}
	m.mu.Lock()
	// A change decided since the read is pending and sets the alarm anyway.
	if len(m.pending) == 0 && active != (len(m.down) > 0) {
		level.Info(m.logger).Log("msg", "BackendConnectionRefuse set again from the sources' state", "sources_down", len(m.down))
		m.updateAlarmLocked()
	}
	m.mu.Unlock()
	m.applyPendingLocked()
}

// Healthy reports an error naming every source that is down, with its
// cause, and nil while all are up: the health check follows the sources
// themselves, not only the alarm list that the admin API can empty.
func (m *Manager) Healthy() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.down) == 0 {
		return nil
	}
	return errors.New(m.downDetailLocked())
}

// sourcesByName returns the running sources, ordered by name; their
// snapshots are taken after the manager's lock is released.
func (m *Manager) sourcesByName() []Source {
	m.mu.Lock()
	sources := make([]Source, 0, m.sources.Len())
	for _, r := range m.sources.All() {
		sources = append(sources, r.source)
	}
	m.mu.Unlock()
	slices.SortFunc(sources, func(a, b Source) int { return strings.Compare(a.Name(), b.Name()) })
	return sources
}

// Snapshots returns every source's snapshot, ordered by name.
func (m *Manager) Snapshots() []registry.Snapshot {
	sources := m.sourcesByName()
	out := make([]registry.Snapshot, len(sources))
	for i, s := range sources {
		out[i] = s.Snapshot()
	}
	return out
}

// ServiceSnapshots returns the per-service counts of every source,
// ordered by name.
func (m *Manager) ServiceSnapshots() []registry.ServiceSnapshot {
	sources := m.sourcesByName()
	out := make([]registry.ServiceSnapshot, len(sources))
	for i, s := range sources {
		out[i] = s.Services()
	}
	return out
}

// ServiceCenterEndpoints returns the health and version of every endpoint
// of every Service Center source, ordered by source.
func (m *Manager) ServiceCenterEndpoints() []registry.EndpointStatus {
	m.mu.Lock()
	var names []string
	for name := range m.sources.All() {
		names = append(names, name)
	}
	slices.Sort(names)
	var probers []endpointProber
	for _, name := range names {
		r, _ := m.sources.Get(name)
		if p, ok := r.source.(endpointProber); ok {
			probers = append(probers, p)
		}
	}
	m.mu.Unlock()
	var out []registry.EndpointStatus
	for _, p := range probers {
		out = append(out, p.Endpoints()...)
	}
	return out
}

// Ready reports whether every source has completed its first sync.
func (m *Manager) Ready() bool {
	for _, s := range m.Snapshots() {
		if !s.Synced {
			return false
		}
	}
	return true
}

// reporter is a source's StatusReporter; it ignores reports from a source
// the manager has since replaced or removed.
type reporter struct {
	m          *Manager
	name       string
	generation uint64
}

func (r *reporter) SourceDown(_, detail string) { r.m.setDown(r.name, r.generation, detail, true) }
func (r *reporter) SourceUp(string)             { r.m.setDown(r.name, r.generation, "", false) }

func (m *Manager) setDown(name string, generation uint64, detail string, down bool) {
	defer m.applyAlarms() // after the unlock below
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.sources.Get(name); !ok || r.generation != generation {
		return
	}
	before, wasDown := m.down[name]
	if down {
		m.down[name] = detail
	} else {
		delete(m.down, name)
	}
	if wasDown != down || before != detail {
		m.updateAlarmLocked()
	}
}

// updateAlarmLocked decides to raise BackendConnectionRefuse while any
// source is down, with every down source's detail, and to clear it once
// none is; applyAlarms applies it.
func (m *Manager) updateAlarmLocked() {
	if len(m.down) == 0 {
		m.pending = append(m.pending, func(a Alarms) { a.Clear(alarm.BackendConnectionRefuse) })
		return
	}
	detail, names := m.downDetailLocked(), m.downNamesLocked()
	m.pending = append(m.pending, func(a Alarms) {
		err := a.Raise(alarm.BackendConnectionRefuse, alarm.Detail("%s", detail), alarm.Field{Key: "sources", Value: names})
		if err != nil {
			level.Error(m.logger).Log("msg", "raising BackendConnectionRefuse", "err", err)
		}
	})
}

// applyAlarms applies the alarm changes decided under mu, in the order they
// were decided, once mu is released: the center can wait (for room on its
// bus), and Healthy and Snapshots (the health check, scrapes) must not wait
// with it. Serialising on applying keeps the order across callers; each
// caller returns once its own change is applied, by itself or by the
// caller before.
func (m *Manager) applyAlarms() {
	m.applying.Lock()
	defer m.applying.Unlock()
	m.applyPendingLocked()
}

// applyPendingLocked is applyAlarms with applying held.
func (m *Manager) applyPendingLocked() {
	for {
		m.mu.Lock()
		batch := m.pending
		m.pending = nil
		m.mu.Unlock()
		if len(batch) == 0 {
			return
		}
		for _, apply := range batch {
			apply(m.alarms)
		}
	}
}

func (m *Manager) downNamesLocked() []string {
	names := make([]string, 0, len(m.down))
	for name := range m.down {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// downDetailLocked is every down source's detail, ordered by source name.
func (m *Manager) downDetailLocked() string {
	names := m.downNamesLocked()
	details := make([]string, len(names))
	for i, name := range names {
		details[i] = m.down[name]
	}
	return strings.Join(details, "; ")
}
