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

// EventKind is what a churn step did.
type EventKind string

// Churn events.
const (
	// RegisterInstance adds an instance to a service, on a new lease or on
	// the shared lease being filled (InstancesPerLease > 1).
	RegisterInstance EventKind = "register_instance"
	// ChangeStatus rewrites an instance with another status and
	// modTimestamp, keeping its lease.
	ChangeStatus EventKind = "change_status"
	// ExpireInstance stops an instance's heartbeat: its lease is revoked,
	// which deletes its keys as expiry would. An instance that shares its
	// lease with others has its keys deleted instead.
	ExpireInstance EventKind = "expire_instance"
	// RegisterService adds a service without instances.
	RegisterService EventKind = "register_service"
	// DeregisterService deletes a service, its index and its instances.
	DeregisterService EventKind = "deregister_service"
)

// Event is one churn step.
type Event struct {
	Kind                                   EventKind
	Domain, Project, ServiceID, InstanceID string
	// Status is the instance's new status (RegisterInstance, ChangeStatus).
	Status string
	// Removed is the number of instances deleted (ExpireInstance,
	// DeregisterService).
	Removed int
	// Changed is the number of instances taken away or brought back
	// (ServiceDown, ServiceBack).
	Changed int
	// Vanished reports that the target was already gone from etcd (its
	// lease expired under the simulator): the view was corrected and
	// nothing was written.
	Vanished bool
}

// Step performs one churn event, chosen and aimed by the seeded generator:
// the same seed and the same registry give the same sequence of events. It
// must follow Load. On error the view is unchanged (except that an
// instance whose heartbeat was stopped is forgotten: it expires anyway).
func (s *Simulator) Step(ctx context.Context) (Event, error) {
	s.stepMu.Lock()
	defer s.stepMu.Unlock()
	return s.step(ctx)
}

func (s *Simulator) step(ctx context.Context) (Event, error) {
	s.mu.Lock()
	loaded := s.loaded
	var kind EventKind
	if loaded {
		kind = s.chooseKind()
	}
	s.mu.Unlock()
	if !loaded {
		return Event{}, errors.New("simulator: Step before a successful Load")
	}
	var (
		ev  Event
		err error
	)
	switch kind {
	case RegisterInstance:
		ev, err = s.registerInstance(ctx)
	case ChangeStatus:
		ev, err = s.changeStatus(ctx)
	case ExpireInstance:
		ev, err = s.expireInstance(ctx)
	case RegisterService:
		ev, err = s.registerService(ctx)
	default:
		ev, err = s.deregisterService(ctx)
	}
	if err != nil {
		return ev, fmt.Errorf("simulator: %s: %w", kind, err)
	}
	return ev, nil
}

// chooseKind picks the next event, steering the registry back towards its
// initial size so that long runs neither drain nor balloon. Called under mu.
func (s *Simulator) chooseKind() EventKind {
	v := s.view
	nsvc, ninst := len(v.services), len(v.instances)
	kinds := []EventKind{RegisterInstance, ChangeStatus, ExpireInstance, RegisterService, DeregisterService}
	w := make([]int, len(kinds))
	if nsvc > 0 {
		w[0] = 25
		w[4] = 1
		if nsvc > s.targetServices {
			w[4] = 5
		}
	}
	if ninst > 0 {
		w[1], w[2] = 40, 25
	}
	switch {
	case ninst > 0 && 10*ninst > 11*s.targetInstances:
		w[2] = 40
		w[0] = min(w[0], 10)
	case nsvc > 0 && 10*ninst < 9*s.targetInstances:
		w[0] = 40
		w[2] = min(w[2], 10)
	}
	w[3] = 1
	if nsvc < s.targetServices {
		w[3] = 5
	}
	return kinds[pickWeighted(s.rng, w)]
}

// newStatus is the status of a new instance: some start slowly.
func (s *Simulator) newStatus() string {
	if s.rng.IntN(10) < 3 {
		return StatusStarting
	}
	return StatusUp
}

// nextStatus is a status other than cur: instances that are not UP mostly
// come back UP.
func (s *Simulator) nextStatus(cur string) string {
	if cur != StatusUp && s.rng.IntN(10) < 7 {
		return StatusUp
	}
	for {
		st := InstanceStatuses()[pickWeighted(s.rng, []int{30, 25, 15, 15, 15})]
		if st != cur {
			return st
		}
	}
}

func serviceEvent(kind EventKind, svc *service) Event {
	return Event{Kind: kind, Domain: svc.project.domain, Project: svc.project.name, ServiceID: svc.id}
}

func (s *Simulator) registerInstance(ctx context.Context) (Event, error) {
	s.mu.Lock()
	v := s.view
	svc := v.services[s.rng.IntN(len(v.services))]
	l := v.open
	if s.cfg.InstancesPerLease == 1 || l == nil || l.gone || len(l.members) >= s.cfg.InstancesPerLease {
		l = nil
	}
	inst := v.newInstance(svc, l, s.newStatus(), time.Now().Unix())
	value, err := v.instanceJSON(inst)
	key, leaseKey := v.instanceKey(inst), v.instanceLeaseKey(inst)
	s.mu.Unlock()
	ev := serviceEvent(RegisterInstance, svc)
	ev.InstanceID, ev.Status = inst.id, inst.status
	if err != nil {
		return ev, err
	}

	fresh := l == nil
	if fresh {
		resp, err := s.client.Grant(ctx, s.cfg.leaseSeconds())
		if err != nil {
			return ev, fmt.Errorf("granting a lease: %w", err)
		}
		l = &lease{id: resp.ID}
	}
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(value), clientv3.WithLease(l.id)),
			clientv3.OpPut(leaseKey, strconv.FormatInt(int64(l.id), 10), clientv3.WithLease(l.id))).
		Commit()
	if err != nil {
		// A fresh lease is not kept alive: it expires on its own.
		return ev, err
	}
	if !resp.Succeeded {
		return ev, fmt.Errorf("instance key %s exists already", key)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if l.gone {
		// The shared lease expired after the write: etcd deleted it again.
		ev.Vanished = true
		return ev, nil
	}
	inst.lease = l
	if fresh {
		v.leases[l.id] = l
		if s.cfg.InstancesPerLease > 1 {
			v.open = l
		}
		s.keeper.add(l.id)
	}
	v.addInstance(inst)
	return ev, nil
}

func (s *Simulator) changeStatus(ctx context.Context) (Event, error) {
	s.mu.Lock()
	v := s.view
	inst := v.instances[s.rng.IntN(len(v.instances))]
	changed := *inst
	changed.status = s.nextStatus(inst.status)
	changed.modified = time.Now().Unix()
	value, err := v.instanceJSON(&changed)
	key := v.instanceKey(inst)
	s.mu.Unlock()
	ev := serviceEvent(ChangeStatus, inst.svc)
	ev.InstanceID, ev.Status = inst.id, changed.status
	if err != nil {
		return ev, err
	}

	// Rewrite only an existing key: with IgnoreLease etcd would refuse a
	// missing one anyway, and the compare tells us it is gone.
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.Version(key), ">", 0)).
		Then(clientv3.OpPut(key, string(value), clientv3.WithIgnoreLease())).
		Commit()
	if err != nil {
		return ev, err
	}

	s.mu.Lock()
	var emptied *lease
	switch {
	case inst.pos < 0:
		ev.Vanished = true // forgotten meanwhile (lease expiry report)
	case !resp.Succeeded:
		ev.Vanished = true
		emptied = v.removeInstance(inst)
	default:
		inst.status, inst.modified = changed.status, changed.modified
	}
	s.mu.Unlock()
	if emptied != nil {
		s.keeper.remove(emptied.id)
	}
	return ev, nil
}

func (s *Simulator) expireInstance(ctx context.Context) (Event, error) {
	s.mu.Lock()
	v := s.view
	inst := v.instances[s.rng.IntN(len(v.instances))]
	l := inst.lease
	alone := len(l.members) == 1
	key, leaseKey := v.instanceKey(inst), v.instanceLeaseKey(inst)
	s.mu.Unlock()
	ev := serviceEvent(ExpireInstance, inst.svc)
	ev.InstanceID, ev.Removed = inst.id, 1

	var err error
	if alone {
		// Stop the heartbeat, then revoke rather than wait out the TTL: etcd
		// deletes the keys just as on expiry. Should the revoke fail, the
		// lease expires on its own: forget the instance either way.
		s.keeper.remove(l.id)
		_, err = s.client.Revoke(ctx, l.id)
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			err = nil
		}
	} else {
		// The lease is shared: delete this instance's keys only.
		if _, err = s.client.Txn(ctx).Then(clientv3.OpDelete(key), clientv3.OpDelete(leaseKey)).Commit(); err != nil {
			return ev, err
		}
	}

	s.mu.Lock()
	if inst.pos >= 0 {
		v.removeInstance(inst)
	}
	s.mu.Unlock()
	return ev, err
}

func (s *Simulator) registerService(ctx context.Context) (Event, error) {
	s.mu.Lock()
	v := s.view
	p := v.projects[s.rng.IntN(len(v.projects))]
	svc := v.newService(s.rng, p, time.Now().Unix())
	value, err := v.serviceJSON(svc)
	key, index := v.serviceKey(svc), v.indexKey(svc)
	s.mu.Unlock()
	ev := serviceEvent(RegisterService, svc)
	if err != nil {
		return ev, err
	}

	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(value)), clientv3.OpPut(index, svc.id)).
		Commit()
	if err != nil {
		return ev, err
	}
	if !resp.Succeeded {
		return ev, fmt.Errorf("service key %s exists already", key)
	}
	s.mu.Lock()
	v.addService(svc)
	s.mu.Unlock()
	return ev, nil
}

func (s *Simulator) deregisterService(ctx context.Context) (Event, error) {
	s.mu.Lock()
	v := s.view
	svc := v.services[s.rng.IntN(len(v.services))]
	p := svc.project
	key, index := v.serviceKey(svc), v.indexKey(svc)
	instances := v.layout.InstanceKey(p.domain, p.name, svc.id, "")
	leases := v.layout.InstanceLeaseKey(p.domain, p.name, svc.id, "")
	s.mu.Unlock()
	ev := serviceEvent(DeregisterService, svc)

	_, err := s.client.Txn(ctx).Then(
		clientv3.OpDelete(instances, clientv3.WithPrefix()),
		clientv3.OpDelete(leases, clientv3.WithPrefix()),
		clientv3.OpDelete(index),
		clientv3.OpDelete(key),
	).Commit()
	if err != nil {
		return ev, err
	}

	s.mu.Lock()
	ev.Removed = len(svc.instances)
	// Leases left without instances are no longer kept alive: they expire
	// without a key, unseen, which spares a revoke per instance.
	emptied := v.removeService(svc)
	s.mu.Unlock()
	for _, l := range emptied {
		s.keeper.remove(l.id)
	}
	return ev, nil
}

// churn runs steps at cfg.ChurnRate until ctx is done. Steps run one at a
// time; when one takes longer than the interval the rate drops rather than
// bursting to catch up by more than a second. While paused it looks again
// every pausedPoll at most.
func (s *Simulator) churn(ctx context.Context) {
	interval := time.Duration(float64(time.Second) / s.cfg.ChurnRate)
	next := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		timer.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if !s.churnOnce(ctx) {
			next = time.Now().Add(max(interval, pausedPoll))
			continue
		}
		next = next.Add(interval)
		if now := time.Now(); now.Sub(next) > time.Second {
			next = now
		}
	}
}

// pausedPoll is how often a paused churn loop looks whether it may resume.
const pausedPoll = 100 * time.Millisecond

// churnOnce runs and logs one step, unless paused; it reports whether it
// ran.
func (s *Simulator) churnOnce(ctx context.Context) bool {
	s.stepMu.Lock()
	defer s.stepMu.Unlock()
	if s.paused.Load() {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	ev, err := s.step(ctx)
	if err != nil {
		if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			level.Warn(s.logger).Log("msg", "churn step failed", "err", err)
		}
		return true
	}
	level.Debug(s.logger).Log("msg", "churn", "event", ev.Kind, "domain", ev.Domain, "project", ev.Project,
		"service", ev.ServiceID, "instance", ev.InstanceID, "status", ev.Status, "removed", ev.Removed,
		"vanished", ev.Vanished)
	return true
}
