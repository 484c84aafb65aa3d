// Package simulator writes a simulated Apache ServiceComb Service Center
// registry into etcd, in exactly the key layout and JSON Service Center
// uses, and keeps it changing: instances register, change status, expire,
// services come and go. It is the test bed of the exporter's etcd source.
//
// Load writes an initial registry and returns its counts. Run loads, keeps
// the instance leases alive and churns until its context is done. A
// Simulator gives finer control: single churn steps, pause and resume (for
// scripted backend outages), scripted outages of one service, and the
// current counts.
package simulator

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// stepTimeout bounds one churn step in Run, so that an unreachable etcd
// delays churn but never blocks it for good.
const stepTimeout = 10 * time.Second

// Simulator is one simulated registry in one etcd. Its methods are safe for
// concurrent use.
type Simulator struct {
	client *clientv3.Client
	cfg    Config
	logger log.Logger
	keeper *keeper

	// stepMu serialises Load and churn steps: each needs the view to stay
	// as it saw it while it writes.
	stepMu sync.Mutex
	// rng drives churn; used under stepMu.
	rng        *rand.Rand
	loadCalled bool // under stepMu
	paused     atomic.Bool

	// mu guards view, loaded and the targets; lease expiry reports change
	// the view at any time.
	mu     sync.Mutex
	view   *view
	loaded bool
	// targetServices and targetInstances are the sizes churn steers back
	// to: those of the initial registry.
	targetServices, targetInstances int
	// outageStarted: TakeServiceDown began an outage that BringServiceBack
	// has not ended; outageCount is the number of instances the service had
	// when it began.
	outageStarted bool
	outageCount   int
}

// New returns a simulator of cfg writing through c. logger may be nil.
func New(c *clientv3.Client, cfg Config, logger log.Logger) (*Simulator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	if c == nil {
		return nil, errors.New("simulator: no etcd client")
	}
	if logger == nil {
		logger = log.NewNopLogger()
	}
	s := &Simulator{
		client: c,
		cfg:    cfg,
		logger: logger,
		rng:    newRand(cfg.Seed, streamChurn),
	}
	s.keeper = newKeeper(clientv3.RetryLeaseClient(c), time.Duration(cfg.leaseSeconds())*time.Second, logger, s.leaseExpired)
	return s, nil
}

// Load writes the initial registry of cfg. Nothing keeps its leases alive:
// its instances disappear one lease TTL after they were written. It returns
// what it wrote; Stats are meaningful only without error.
func Load(ctx context.Context, c *clientv3.Client, cfg Config) (Stats, error) {
	s, err := New(c, cfg, nil)
	if err != nil {
		return Stats{}, err
	}
	return s.Load(ctx)
}

// Run loads the registry of cfg, then keeps its leases alive and churns at
// cfg.ChurnRate until ctx is done. It returns nil when ctx ends it, an
// error when loading fails.
func Run(ctx context.Context, c *clientv3.Client, cfg Config, logger log.Logger) error {
	s, err := New(c, cfg, logger)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}

// Run loads the registry, then keeps its leases alive and churns until ctx
// is done; leases are kept alive from the moment they are granted, so that
// a load longer than the TTL loses nothing. It returns nil when ctx ends
// it, an error when loading fails. The registry stays in etcd afterwards
// and its instances expire one TTL later, as when Service Center's clients
// stop.
func (s *Simulator) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.keeper.run(ctx)
	}()

	start := time.Now()
	st, err := s.Load(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	level.Info(s.logger).Log("msg", "registry loaded", "domains", st.Domains, "projects", st.Projects,
		"services", st.Services, "instances", st.Instances, "leases", st.Leases, "keys", st.Keys,
		"duration", time.Since(start).Round(time.Millisecond))
	if s.cfg.ServiceOutage.Enabled() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.runServiceOutages(ctx, start)
		}()
	}
	if s.cfg.ChurnRate == 0 {
		<-ctx.Done()
		return nil
	}
	s.churn(ctx)
	return nil
}

// Stats counts the registry as the simulator believes it is now (zero
// before Load).
func (s *Simulator) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.view == nil {
		return Stats{ByProject: map[string]ProjectStats{}}
	}
	return s.view.stats()
}

// Layout is the key layout the simulator writes.
func (s *Simulator) Layout() Layout { return Layout{Prefix: s.cfg.Prefix} }

// Pause stops Run's churn, after the step in flight (or a Load in
// progress) has finished; leases are still kept alive. Pause before taking
// etcd down, so that no step is cut in half and the view stays true.
func (s *Simulator) Pause() {
	s.paused.Store(true)
	// An empty critical section: waiting for the step in flight is the
	// point; steps that start later see paused.
	s.stepMu.Lock()
	s.stepMu.Unlock()
}

// Resume restarts Run's churn.
func (s *Simulator) Resume() { s.paused.Store(false) }

// leaseExpired forgets the instances of a lease that etcd no longer knows:
// it has deleted their keys.
func (s *Simulator) leaseExpired(id clientv3.LeaseID) {
	s.mu.Lock()
	var n int
	if s.view != nil {
		if l := s.view.leases[id]; l != nil {
			n = len(l.members)
			for len(l.members) > 0 {
				s.view.removeInstance(l.members[len(l.members)-1])
			}
			s.view.dropLease(l)
		}
	}
	s.mu.Unlock()
	level.Warn(s.logger).Log("msg", "lease expired, forgetting its instances", "lease", int64(id), "instances", n)
}
