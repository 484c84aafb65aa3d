package simulator

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/go-kit/log/level"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// OutageMode is how a scripted service outage takes a service's instances
// away.
type OutageMode string

// Outage modes.
const (
	// OutageExpire is a crash: the instances stop sending heartbeats and
	// disappear as their leases expire (the simulator revokes them, which
	// deletes their keys as expiry does). They come back as new instances,
	// with new ids and leases, as restarted processes register again.
	OutageExpire OutageMode = "expire"
	// OutageDown keeps the instances registered with status DOWN (failing
	// health checks, drained); they come back UP.
	OutageDown OutageMode = "down"
)

// Churn events of a scripted service outage.
const (
	// ServiceDown takes every instance of the outage's service away.
	ServiceDown EventKind = "service_down"
	// ServiceBack brings them back.
	ServiceBack EventKind = "service_back"
)

// ServiceOutage scripts outages of one service, named by its domain,
// project and serviceName (unique within a project). The zero value
// scripts none. Churn leaves that service alone from Load on, so that its
// only disruptions are the scripted ones.
type ServiceOutage struct {
	Domain, Project, Service string
	// Mode is OutageExpire when empty.
	Mode OutageMode
	// After is the time from Run's start to the first outage (0: none);
	// Duration how long the instances stay away; Every the time between the
	// starts of two outages (0: once).
	After, Duration, Every time.Duration
}

// Enabled reports whether o scripts any outage.
func (o ServiceOutage) Enabled() bool { return o.After > 0 }

func (o ServiceOutage) mode() OutageMode {
	if o.Mode == "" {
		return OutageExpire
	}
	return o.Mode
}

// validate checks o against the registry cfg loads: the service must be one
// Load writes.
func (o ServiceOutage) validate(cfg Config) error {
	if o.After < 0 || o.Duration < 0 || o.Every < 0 {
		return errors.New("service outage: durations must not be negative")
	}
	if !o.Enabled() {
		if o.Duration > 0 || o.Every > 0 {
			return errors.New("service outage: duration and every need after")
		}
		return nil
	}
	if o.Duration == 0 {
		return errors.New("service outage: after needs a duration")
	}
	if o.Every > 0 && o.Every <= o.Duration {
		return fmt.Errorf("service outage: every (%v) must be longer than the duration (%v)", o.Every, o.Duration)
	}
	switch o.Mode {
	case "", OutageExpire, OutageDown:
	default:
		return fmt.Errorf("service outage: mode %q: must be %q or %q", o.Mode, OutageExpire, OutageDown)
	}
	where := o.Domain + "/" + o.Project + "/" + o.Service
	if !namedWithin(o.Domain, cfg.Domains, domainName) || !namedWithin(o.Project, cfg.ProjectsPerDomain, projectName) ||
		!namedWithin(o.Service, cfg.ServicesPerProject, serviceName) {
		return fmt.Errorf("service outage: no service %q at load: want domain/project/name among %d domains (default, tenant-1...), %d projects (default, proj-1...) and %d services (%s...)",
			where, cfg.Domains, cfg.ProjectsPerDomain, cfg.ServicesPerProject, serviceName(0))
	}
	return nil
}

// namedWithin reports whether name is name(i) for some i < n.
func namedWithin(want string, n int, name func(int) string) bool {
	for i := range n {
		if name(i) == want {
			return true
		}
	}
	return false
}

// pinOutageService moves the outage's service out of churn's reach. Called
// by Load under mu, after the initial registry is planned.
func (s *Simulator) pinOutageService(v *view) error {
	o := s.cfg.ServiceOutage
	for _, svc := range v.services {
		p := svc.project
		if p.domain == o.Domain && p.name == o.Project && svc.name == o.Service {
			v.pin(svc)
			return nil
		}
	}
	return fmt.Errorf("simulator: service outage: no service %s/%s/%s", o.Domain, o.Project, o.Service)
}

// TakeServiceDown takes every instance of the outage's service away, as
// ServiceOutage.Mode says. It needs Config.ServiceOutage and a successful
// Load. Taking a service that is down already changes nothing. After an
// error it may be called again: it takes away what is left.
func (s *Simulator) TakeServiceDown(ctx context.Context) (Event, error) {
	s.stepMu.Lock()
	defer s.stepMu.Unlock()
	s.mu.Lock()
	svc, err := s.outageService()
	if err != nil {
		s.mu.Unlock()
		return Event{}, err
	}
	ev := serviceEvent(ServiceDown, svc)
	if svc.out {
		s.mu.Unlock()
		return ev, nil
	}
	if !s.outageStarted {
		s.outageStarted = true
		s.outageCount = len(svc.instances)
	}
	s.mu.Unlock()

	if s.cfg.ServiceOutage.mode() == OutageDown {
		err = s.setOutageStatus(ctx, svc, StatusDown, &ev)
	} else {
		err = s.expireOutageInstances(ctx, svc, &ev)
	}
	if err != nil {
		return ev, fmt.Errorf("simulator: taking service %s down: %w", svc.name, err)
	}
	s.mu.Lock()
	svc.out = true
	s.mu.Unlock()
	return ev, nil
}

// BringServiceBack ends the outage of TakeServiceDown: the instances come
// back UP (OutageExpire: as many new ones as were taken away). Bringing back
// a service that is not down changes nothing.
func (s *Simulator) BringServiceBack(ctx context.Context) (Event, error) {
	s.stepMu.Lock()
	defer s.stepMu.Unlock()
	s.mu.Lock()
	svc, err := s.outageService()
	if err != nil {
		s.mu.Unlock()
		return Event{}, err
	}
	ev := serviceEvent(ServiceBack, svc)
	if !s.outageStarted {
		s.mu.Unlock()
		return ev, nil
	}
	missing := s.outageCount - len(svc.instances)
	s.mu.Unlock()

	if s.cfg.ServiceOutage.mode() == OutageDown {
		err = s.setOutageStatus(ctx, svc, StatusUp, &ev)
	} else {
		err = s.registerOutageInstances(ctx, svc, missing, &ev)
	}
	if err != nil {
		return ev, fmt.Errorf("simulator: bringing service %s back: %w", svc.name, err)
	}
	s.mu.Lock()
	svc.out = false
	s.outageStarted = false
	s.mu.Unlock()
	return ev, nil
}

// outageService is the pinned service; called under mu.
func (s *Simulator) outageService() (*service, error) {
	if !s.loaded {
		return nil, errors.New("simulator: service outage before a successful Load")
	}
	if s.view.pinned == nil {
		return nil, errors.New("simulator: no service outage configured")
	}
	return s.view.pinned, nil
}

// expireOutageInstances revokes the leases that hold only instances of svc
// and deletes the keys of its instances on leases shared with others, then
// forgets them all. ev.Changed counts the instances gone.
func (s *Simulator) expireOutageInstances(ctx context.Context, svc *service, ev *Event) error {
	s.mu.Lock()
	var revoke []*lease
	var shared []*instance
	seen := map[*lease]bool{}
	for _, inst := range svc.instances {
		l := inst.lease
		if seen[l] {
			continue
		}
		seen[l] = true
		own := true
		for _, m := range l.members {
			own = own && m.svc == svc
		}
		if own {
			revoke = append(revoke, l)
			continue
		}
		for _, m := range l.members {
			if m.svc == svc {
				shared = append(shared, m)
			}
		}
	}
	ops := make([]clientv3.Op, 0, 2*len(shared))
	for _, inst := range shared {
		ops = append(ops, clientv3.OpDelete(s.view.instanceKey(inst)), clientv3.OpDelete(s.view.instanceLeaseKey(inst)))
	}
	s.mu.Unlock()

	// As in expireInstance: a lease no longer kept alive expires anyway, so
	// its instances are forgotten even if the revoke fails.
	var revokeErr error
	for _, l := range revoke {
		s.keeper.remove(l.id)
		if _, err := s.client.Revoke(ctx, l.id); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) && revokeErr == nil {
			revokeErr = err
		}
		s.mu.Lock()
		ev.Changed += s.forgetLease(l)
		s.mu.Unlock()
	}
	if err := s.commitChunked(ctx, ops); err != nil {
		return err
	}
	s.mu.Lock()
	for _, inst := range shared {
		if inst.svcPos >= 0 {
			s.view.removeInstance(inst)
			ev.Changed++
		}
	}
	s.mu.Unlock()
	return revokeErr
}

// forgetLease forgets l and its instances; called under mu. It returns the
// number of instances forgotten.
func (s *Simulator) forgetLease(l *lease) int {
	n := len(l.members)
	for len(l.members) > 0 {
		s.view.removeInstance(l.members[len(l.members)-1])
	}
	s.view.dropLease(l)
	return n
}

// registerOutageInstances registers n new UP instances of svc on new
// leases, Config.InstancesPerLease to a lease.
func (s *Simulator) registerOutageInstances(ctx context.Context, svc *service, n int, ev *Event) error {
	for n > 0 {
		k := min(n, s.cfg.InstancesPerLease, s.cfg.batchSize()/2)
		resp, err := s.client.Grant(ctx, s.cfg.leaseSeconds())
		if err != nil {
			return fmt.Errorf("granting a lease: %w", err)
		}
		l := &lease{id: resp.ID}
		s.mu.Lock()
		now := time.Now().Unix()
		insts := make([]*instance, k)
		ops := make([]clientv3.Op, 0, 2*k)
		for i := range insts {
			inst := s.view.newInstance(svc, l, StatusUp, now)
			value, err := s.view.instanceJSON(inst)
			if err != nil {
				s.mu.Unlock()
				return err
			}
			insts[i] = inst
			ops = append(ops,
				clientv3.OpPut(s.view.instanceKey(inst), string(value), clientv3.WithLease(l.id)),
				clientv3.OpPut(s.view.instanceLeaseKey(inst), strconv.FormatInt(int64(l.id), 10), clientv3.WithLease(l.id)))
		}
		s.mu.Unlock()
		if _, err := s.client.Txn(ctx).Then(ops...).Commit(); err != nil {
			// The lease is not kept alive: it expires with whatever was written.
			return err
		}
		s.mu.Lock()
		s.view.leases[l.id] = l
		for _, inst := range insts {
			s.view.addInstance(inst)
		}
		s.mu.Unlock()
		s.keeper.add(l.id)
		ev.Changed += k
		n -= k
	}
	return nil
}

// setOutageStatus rewrites every instance of svc with status, keeping its
// lease; instances whose key is gone (lease expired) are forgotten.
// ev.Changed counts the instances rewritten.
func (s *Simulator) setOutageStatus(ctx context.Context, svc *service, status string, ev *Event) error {
	s.mu.Lock()
	insts := append([]*instance(nil), svc.instances...)
	s.mu.Unlock()
	now := time.Now().Unix()
	for _, inst := range insts {
		s.mu.Lock()
		changed := *inst
		changed.status, changed.modified = status, now
		value, err := s.view.instanceJSON(&changed)
		key := s.view.instanceKey(inst)
		s.mu.Unlock()
		if err != nil {
			return err
		}
		resp, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.Version(key), ">", 0)).
			Then(clientv3.OpPut(key, string(value), clientv3.WithIgnoreLease())).
			Commit()
		if err != nil {
			return err
		}
		s.mu.Lock()
		var emptied *lease
		switch {
		case inst.svcPos < 0:
			// forgotten meanwhile (lease expiry report)
		case !resp.Succeeded:
			emptied = s.view.removeInstance(inst)
		default:
			inst.status, inst.modified = status, now
			ev.Changed++
		}
		s.mu.Unlock()
		if emptied != nil {
			s.keeper.remove(emptied.id)
		}
	}
	return nil
}

// commitChunked commits ops in transactions of at most Config.BatchSize
// operations.
func (s *Simulator) commitChunked(ctx context.Context, ops []clientv3.Op) error {
	for len(ops) > 0 {
		n := min(len(ops), s.cfg.batchSize())
		if _, err := s.client.Txn(ctx).Then(ops[:n]...).Commit(); err != nil {
			return err
		}
		ops = ops[n:]
	}
	return nil
}

// outageRetry is the wait before a failed outage step is tried again (etcd
// may be down: a scripted etcd outage can overlap a service outage).
const outageRetry = time.Second

// runServiceOutages stages the outages of Config.ServiceOutage from start
// until ctx is done.
func (s *Simulator) runServiceOutages(ctx context.Context, start time.Time) {
	o := s.cfg.ServiceOutage
	next := start.Add(o.After)
	for {
		if !sleepUntil(ctx, next) {
			return
		}
		if !s.outageStep(ctx, s.TakeServiceDown) || !sleepUntil(ctx, time.Now().Add(o.Duration)) ||
			!s.outageStep(ctx, s.BringServiceBack) || o.Every <= 0 {
			return
		}
		// Outages start every o.Every from the first, whatever they took;
		// one that is overdue starts at once.
		for !next.After(time.Now()) {
			next = next.Add(o.Every)
		}
	}
}

// outageStep runs step until it succeeds (true) or ctx is done (false).
func (s *Simulator) outageStep(ctx context.Context, step func(context.Context) (Event, error)) bool {
	o := s.cfg.ServiceOutage
	for failures := 0; ; failures++ {
		sctx, cancel := context.WithTimeout(ctx, stepTimeout)
		ev, err := step(sctx)
		cancel()
		if err == nil {
			level.Info(s.logger).Log("msg", "service outage", "event", ev.Kind, "domain", o.Domain, "project", o.Project,
				"service", o.Service, "service_id", ev.ServiceID, "mode", o.mode(), "instances", ev.Changed)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		lvl := level.Debug
		if failures == 0 {
			lvl = level.Warn
		}
		lvl(s.logger).Log("msg", "service outage step failed, retrying", "err", err, "retry_in", outageRetry)
		if !sleepUntil(ctx, time.Now().Add(outageRetry)) {
			return false
		}
	}
}

// sleepUntil waits until t; false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
