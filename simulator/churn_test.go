package simulator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/servicecomb/servicecomb_exporter/internal/testutil/wait"
)

// loaded returns a simulator of cfg that has loaded its registry; nothing
// keeps its leases alive, so cfg's TTL must outlast the test.
func loaded(t *testing.T, c *clientv3.Client, cfg Config) *Simulator {
	t.Helper()
	s, err := New(c, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(testContext(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestChurnKeepsRegistryConsistent(t *testing.T) {
	c := startEtcd(t)
	for _, ipl := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d instances per lease", ipl), func(t *testing.T) {
			cfg := smallConfig(fmt.Sprintf("/churn%d", ipl))
			cfg.InstancesPerLease = ipl
			cfg.LeaseTTL = time.Hour
			s := loaded(t, c, cfg)
			ctx := testContext(t, time.Minute)

			kinds := map[EventKind]int{}
			deregistered := map[string]bool{}
			for range 400 {
				ev, err := s.Step(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if ev.Vanished {
					t.Errorf("%+v: vanished while nothing expires", ev)
				}
				kinds[ev.Kind]++
				if ev.Kind == DeregisterService {
					deregistered[ev.ServiceID] = true
				}
			}
			for _, k := range []EventKind{RegisterInstance, ChangeStatus, ExpireInstance, RegisterService, DeregisterService} {
				if kinds[k] == 0 {
					t.Errorf("no %s in 400 steps: %v", k, kinds)
				}
			}

			r := readRegistry(t, c, s.Layout())
			checkConsistent(t, r)
			if d := diffStats(dropEmpty(r.stats()), dropEmpty(s.Stats())); d != "" {
				t.Errorf("etcd differs from the simulator's view:\n%s", d)
			}
			for k := range r.instances {
				if deregistered[strings.Split(k, "/")[2]] {
					t.Errorf("instance %s of a deregistered service remains", k)
				}
			}
			// Churn steers back to the initial size.
			st := s.Stats()
			if st.Instances < 45 || st.Instances > 135 {
				t.Errorf("%d instances after churn, loaded 91", st.Instances)
			}
		})
	}
}

func TestChurnIsReproducible(t *testing.T) {
	c := startEtcd(t)
	events := func(prefix string) []string {
		cfg := smallConfig(prefix)
		cfg.InstancesPerLease = 2
		s := loaded(t, c, cfg)
		var out []string
		for range 100 {
			ev, err := s.Step(testContext(t, time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%s %s/%s %s %s %s %d", ev.Kind, ev.Domain, ev.Project, ev.ServiceID, ev.InstanceID, ev.Status, ev.Removed))
		}
		return out
	}
	a, b := events("/r1"), events("/r2")
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("step %d differs:\n%s\n%s", i, a[i], b[i])
		}
	}
}

func TestStepBeforeLoad(t *testing.T) {
	c := startEtcd(t)
	s, err := New(c, smallConfig("/x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Step(context.Background()); err == nil {
		t.Error("Step before Load succeeded")
	}
	if st := s.Stats(); st.Instances != 0 || st.ByProject == nil {
		t.Errorf("stats before Load: %+v", st)
	}
	if _, err := s.Load(testContext(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(testContext(t, time.Minute)); err == nil {
		t.Error("second Load succeeded")
	}
}

// A status change of an instance whose key has gone corrects the view
// instead of writing.
func TestChangeStatusOfVanishedInstance(t *testing.T) {
	c := startEtcd(t)
	cfg := smallConfig("/vanish")
	cfg.Domains, cfg.ProjectsPerDomain, cfg.ServicesPerProject, cfg.InstancesPerService = 1, 1, 1, 1
	s := loaded(t, c, cfg)
	ctx := testContext(t, time.Minute)
	if _, err := c.Delete(ctx, s.Layout().InstancesPrefix(), clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	s.stepMu.Lock()
	ev, err := s.changeStatus(ctx)
	s.stepMu.Unlock()
	if err != nil || !ev.Vanished {
		t.Fatalf("%+v %v: want vanished", ev, err)
	}
	if st := s.Stats(); st.Instances != 1 { // Service Center's own remains
		t.Errorf("%d instances, want 1", st.Instances)
	}
}

// Run keeps leases alive past their TTL, notices leases that etcd dropped,
// churns at its rate, pauses, and stops when its context ends.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out lease TTLs")
	}
	c := startEtcd(t)
	cfg := smallConfig("/run")
	cfg.LeaseTTL = 3 * time.Second
	cfg.ChurnRate = 100
	s, err := New(c, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stopped := false
	defer func() {
		if !stopped {
			cancel()
			<-done
		}
	}()

	wait.ForNoError(t, "load", 30*time.Second, func() (bool, error) {
		_ = s.Stats() // concurrently with Load and churn, for the race detector
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.loaded, nil
	})

	// Churn happens: the revision moves on.
	rev := func() int64 {
		resp, err := c.Get(testContext(t, 10*time.Second), "/run/none")
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Revision
	}
	start := rev()
	wait.ForNoError(t, "50 churn writes", 30*time.Second, func() (bool, error) { return rev() > start+50, nil })

	// Paused, nothing is written; the registry matches the view.
	s.Pause()
	paused := rev()
	s.churnOnce(ctx)
	if r := rev(); r != paused {
		t.Errorf("paused, yet the revision moved from %d to %d", paused, r)
	}
	r := readRegistry(t, c, s.Layout())
	checkConsistent(t, r)
	if d := diffStats(dropEmpty(r.stats()), dropEmpty(s.Stats())); d != "" {
		t.Errorf("etcd differs from the simulator's view:\n%s", d)
	}

	// While paused, leases outlive their TTL: every instance stays.
	instances := len(r.instances)
	pausedAt := time.Now()
	wait.ForNoError(t, "two lease TTLs with every instance alive", 30*time.Second, func() (bool, error) {
		resp, err := c.Get(testContext(t, 10*time.Second), s.Layout().InstancesPrefix(), clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			return false, err
		}
		if int(resp.Count) != instances {
			return false, fmt.Errorf("%d instances, want %d", resp.Count, instances)
		}
		return time.Since(pausedAt) > 2*cfg.LeaseTTL, nil
	})

	// A lease revoked behind the simulator's back: it forgets the instance
	// at the next renewal.
	var victim clientv3.LeaseID
	for _, inst := range r.instances {
		victim = clientv3.LeaseID(inst.lease)
		break
	}
	if _, err := c.Revoke(testContext(t, 10*time.Second), victim); err != nil {
		t.Fatal(err)
	}
	wait.ForNoError(t, "the revoked lease to be forgotten", 30*time.Second, func() (bool, error) {
		return s.Stats().Instances == instances-1 && !s.keeper.alive(victim), nil
	})

	s.Resume()
	resumed := rev()
	wait.ForNoError(t, "churn after resume", 30*time.Second, func() (bool, error) { return rev() > resumed+10, nil })

	cancel()
	stopped = true
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not stop")
	}
	checkConsistent(t, readRegistry(t, c, s.Layout()))
}

func TestRunFailsWhenLoadFails(t *testing.T) {
	c := startEtcd(t)
	cfg := smallConfig("/fail")
	cfg.BatchSize = 1000 // more than etcd's --max-txn-ops
	cfg.ServicesPerProject = 200
	err := Run(testContext(t, time.Minute), c, cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "too many operations") {
		t.Errorf("Run: %v, want etcd's too many operations error", err)
	}
	if errors.Is(err, context.Canceled) {
		t.Error("not a cancellation")
	}
}
