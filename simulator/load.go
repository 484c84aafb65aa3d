package simulator

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// fillFunc appends the operations that write item i to ops.
type fillFunc func(i int, ops []clientv3.Op) ([]clientv3.Op, error)

// grantsPerWriter: a grant is a small request, so more of them than
// transactions are kept in flight (a single etcd grants about 10,000 a
// second here, whatever the concurrency beyond a few).
const grantsPerWriter = 4

// Load writes the initial registry: domains, projects and services first,
// then instances with their leases. Writes are batched into transactions of
// Config.BatchSize operations, Config.Writers at a time. Leases are granted
// before the instances are written and, under Run, kept alive from the
// moment they are granted; without Run a load that takes longer than the
// lease TTL fails. Load may be called once; it returns what it wrote,
// meaningful only without error.
func (s *Simulator) Load(ctx context.Context) (Stats, error) {
	s.stepMu.Lock()
	defer s.stepMu.Unlock()
	if s.loadCalled {
		return Stats{}, errors.New("simulator: Load called twice")
	}
	s.loadCalled = true

	if s.cfg.Reset {
		if _, err := s.client.Delete(ctx, s.Layout().Root(), clientv3.WithPrefix()); err != nil {
			return Stats{}, fmt.Errorf("simulator: deleting %s: %w", s.Layout().Root(), err)
		}
	}
	v := planView(s.cfg, time.Now().Unix())
	// The writers work on copies: lease expiry reports may reorder the
	// view's slices while they write.
	services := append([]*service{v.global}, v.services...)
	instances := append(append([]*instance(nil), v.global.instances...), v.instances...)
	s.mu.Lock()
	s.view = v
	if s.cfg.ServiceOutage.Enabled() {
		if err := s.pinOutageService(v); err != nil {
			s.mu.Unlock()
			return Stats{}, err
		}
	}
	s.mu.Unlock()

	if err := s.writeMeta(ctx, v, services); err != nil {
		return Stats{}, fmt.Errorf("simulator: loading services: %w", err)
	}
	if err := s.writeInstances(ctx, v, instances); err != nil {
		return Stats{}, fmt.Errorf("simulator: loading instances: %w", err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.loaded = true
	s.targetServices = len(v.services)
	s.targetInstances = len(v.instances)
	return v.stats(), nil
}

// writeMeta writes domains, projects, and services with their index keys.
func (s *Simulator) writeMeta(ctx context.Context, v *view, services []*service) error {
	nd, np := len(v.domains), len(v.projects)
	fill := func(i int, ops []clientv3.Op) ([]clientv3.Op, error) {
		switch {
		case i < nd:
			return append(ops, clientv3.OpPut(v.layout.DomainKey(v.domains[i]), "")), nil
		case i < nd+np:
			p := v.projects[i-nd]
			return append(ops, clientv3.OpPut(v.layout.ProjectKey(p.domain, p.name), "")), nil
		}
		svc := services[i-nd-np]
		value, err := v.serviceJSON(svc)
		if err != nil {
			return ops, err
		}
		return append(ops,
			clientv3.OpPut(v.serviceKey(svc), string(value)),
			clientv3.OpPut(v.indexKey(svc), svc.id)), nil
	}
	return s.writeBatches(ctx, nd+np+len(services), fill)
}

// writeInstances grants the leases, then writes instances and their lease
// keys.
func (s *Simulator) writeInstances(ctx context.Context, v *view, instances []*instance) error {
	// The instances of a lease are consecutive.
	var leases []*lease
	for i, inst := range instances {
		if i == 0 || inst.lease != instances[i-1].lease {
			leases = append(leases, inst.lease)
		}
	}
	if err := s.grantAll(ctx, leases); err != nil {
		return err
	}
	fill := func(i int, ops []clientv3.Op) ([]clientv3.Op, error) {
		inst := instances[i]
		id := inst.lease.id
		value, err := v.instanceJSON(inst)
		if err != nil {
			return ops, err
		}
		return append(ops,
			clientv3.OpPut(v.instanceKey(inst), string(value), clientv3.WithLease(id)),
			clientv3.OpPut(v.instanceLeaseKey(inst), strconv.FormatInt(int64(id), 10), clientv3.WithLease(id))), nil
	}
	return s.writeBatches(ctx, len(instances), fill)
}

// grantAll grants leases, grantsPerWriter × Config.Writers at a time.
//
// Grants go before the puts on purpose: etcd builds each grant's answer
// with a read transaction that copies the key writes not yet committed to
// its backend, so grants interleaved with bulk puts cost more the faster the
// puts go (a third of the CPU of a 100,000-lease load, in a profile).
func (s *Simulator) grantAll(ctx context.Context, leases []*lease) error {
	return parallel(ctx, grantsPerWriter*s.cfg.writers(), len(leases), func(ctx context.Context, i int) error {
		return s.grant(ctx, leases[i])
	})
}

// grant grants l, records it in the view and keeps it alive.
func (s *Simulator) grant(ctx context.Context, l *lease) error {
	resp, err := s.client.Grant(ctx, s.cfg.leaseSeconds())
	if err != nil {
		return fmt.Errorf("granting a lease: %w", err)
	}
	s.mu.Lock()
	l.id = resp.ID
	s.view.leases[l.id] = l
	s.mu.Unlock()
	s.keeper.add(resp.ID)
	return nil
}

// writeBatches writes items [0, n) in transactions of up to half the batch
// size items (an item takes at most two operations), with at most
// Config.Writers transactions in flight.
func (s *Simulator) writeBatches(ctx context.Context, n int, fill fillFunc) error {
	perBatch := s.cfg.batchSize() / 2
	batches := (n + perBatch - 1) / perBatch
	return parallel(ctx, s.cfg.writers(), batches, func(ctx context.Context, b int) error {
		lo, hi := b*perBatch, min((b+1)*perBatch, n)
		ops := make([]clientv3.Op, 0, 2*(hi-lo))
		for i := lo; i < hi; i++ {
			var err error
			if ops, err = fill(i, ops); err != nil {
				return err
			}
		}
		if _, err := s.client.Txn(ctx).Then(ops...).Commit(); err != nil {
			return fmt.Errorf("transaction %d of %d: %w", b+1, batches, err)
		}
		return nil
	})
}

// parallel runs do for 0..n-1 on at most workers goroutines. The first
// error stops the rest and is returned (later ones are mostly its
// cancellation); so is ctx's error if ctx ends first.
func parallel(ctx context.Context, workers, n int, do func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := do(ctx, i); err != nil {
					errOnce.Do(func() {
						firstErr = err
						cancel()
					})
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}
