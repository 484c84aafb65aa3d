package simulator

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/servicecomb/servicecomb_exporter/internal/testutil/wait"
)

func TestServiceOutageValidate(t *testing.T) {
	target := ServiceOutage{Domain: "tenant-1", Project: "proj-1", Service: "order-svc", After: time.Second, Duration: time.Second}
	for _, tc := range []struct {
		name   string
		change func(*ServiceOutage)
		want   string // "" for valid
	}{
		{"none", func(o *ServiceOutage) { *o = ServiceOutage{} }, ""},
		{"once", func(o *ServiceOutage) {}, ""},
		{"repeated, marked down", func(o *ServiceOutage) { o.Every, o.Mode = 5*time.Second, OutageDown }, ""},
		{"expire", func(o *ServiceOutage) { o.Mode = OutageExpire }, ""},
		{"last service of the last project", func(o *ServiceOutage) { o.Domain, o.Project, o.Service = "tenant-2", "proj-1", "shipping-svc" }, ""},
		{"negative", func(o *ServiceOutage) { o.Every = -time.Second }, "negative"},
		{"duration without after", func(o *ServiceOutage) { o.After = 0 }, "need after"},
		{"no duration", func(o *ServiceOutage) { o.Duration = 0 }, "needs a duration"},
		{"every too short", func(o *ServiceOutage) { o.Every = time.Second }, "longer than"},
		{"unknown mode", func(o *ServiceOutage) { o.Mode = "delete" }, "mode"},
		{"unknown domain", func(o *ServiceOutage) { o.Domain = "tenant-3" }, "no service"},
		{"unknown project", func(o *ServiceOutage) { o.Project = "proj-2" }, "no service"},
		{"service past the count", func(o *ServiceOutage) { o.Service = "catalog-svc" }, "no service"},
		{"Service Center's own", func(o *ServiceOutage) { o.Domain, o.Project, o.Service = "default", "default", GlobalServiceName }, "no service"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig() // 3 domains, 2 projects, 5 services
			cfg.ServiceOutage = target
			tc.change(&cfg.ServiceOutage)
			err := cfg.Validate()
			if tc.want == "" && err != nil {
				t.Errorf("Validate: %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate: %v, want an error about %q", err, tc.want)
			}
		})
	}
}

// outageTarget finds the id and the instances (id → stored instance) of
// service name in domain/project of r.
func outageTarget(t *testing.T, r registry, domain, project, name string) (string, map[string]storedInstance) {
	t.Helper()
	id := ""
	for k, ms := range r.services {
		if strings.HasPrefix(k, domain+"/"+project+"/") && ms.ServiceName == name {
			if id != "" {
				t.Fatalf("two services %s in %s/%s", name, domain, project)
			}
			id = ms.ServiceID
		}
	}
	if id == "" {
		t.Fatalf("no service %s in %s/%s", name, domain, project)
	}
	insts := map[string]storedInstance{}
	for k, inst := range r.instances {
		if strings.HasPrefix(k, domain+"/"+project+"/"+id+"/") {
			insts[inst.InstanceID] = inst
		}
	}
	return id, insts
}

// summary is each instance's status, modification time and lease, by id.
func summary(insts map[string]storedInstance) map[string]string {
	out := map[string]string{}
	for id, inst := range insts {
		out[id] = fmt.Sprintf("%s %s %d", inst.Status, inst.ModTimestamp, inst.lease)
	}
	return out
}

func statuses(insts map[string]storedInstance) map[string]int {
	out := map[string]int{}
	for _, inst := range insts {
		out[inst.Status]++
	}
	return out
}

func TestServiceOutage(t *testing.T) {
	c := startEtcd(t)
	for _, mode := range []OutageMode{OutageExpire, OutageDown} {
		for _, ipl := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s, %d instances per lease", mode, ipl), func(t *testing.T) {
				cfg := smallConfig(fmt.Sprintf("/outage-%s-%d", mode, ipl))
				cfg.InstancesPerService = 4
				cfg.InstancesPerLease = ipl
				cfg.LeaseTTL = time.Hour
				cfg.ServiceOutage = ServiceOutage{Domain: "tenant-1", Project: "proj-1", Service: "user-svc", Mode: mode,
					After: time.Hour, Duration: time.Hour}
				s := loaded(t, c, cfg)
				ctx := testContext(t, time.Minute)
				o := cfg.ServiceOutage
				check := func(when string) (registry, map[string]storedInstance) {
					t.Helper()
					r := readRegistry(t, c, s.Layout())
					checkConsistent(t, r)
					if d := diffStats(dropEmpty(r.stats()), dropEmpty(s.Stats())); d != "" {
						t.Errorf("%s: etcd differs from the simulator's view:\n%s", when, d)
					}
					_, insts := outageTarget(t, r, o.Domain, o.Project, o.Service)
					return r, insts
				}
				steps := func(n int) {
					t.Helper()
					for range n {
						if _, err := s.Step(ctx); err != nil {
							t.Fatal(err)
						}
					}
				}

				// Churn leaves the outage's service alone.
				_, loadedInsts := check("loaded")
				if len(loadedInsts) != 4 {
					t.Fatalf("%d instances at load, want 4", len(loadedInsts))
				}
				steps(300)
				r, before := check("after churn")
				if !maps.Equal(summary(before), summary(loadedInsts)) {
					t.Errorf("churn changed the outage's service: %v, loaded %v", before, loadedInsts)
				}
				others := len(r.instances) - len(before)

				ev, err := s.TakeServiceDown(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if ev.Kind != ServiceDown || ev.Changed != 4 || ev.Domain != o.Domain || ev.Project != o.Project {
					t.Errorf("TakeServiceDown: %+v, want 4 instances of %s/%s", ev, o.Domain, o.Project)
				}
				r, down := check("down")
				if got := len(r.instances) - len(down); got != others {
					t.Errorf("%d instances of other services, %d before: the outage touched them", got, others)
				}
				wantDown := func(when string, down map[string]storedInstance) {
					t.Helper()
					switch mode {
					case OutageExpire:
						if len(down) != 0 {
							t.Errorf("%s: %d instances left, want none: %v", when, len(down), down)
						}
					case OutageDown:
						if len(down) != 4 || statuses(down)[StatusDown] != 4 {
							t.Errorf("%s: %v, want the 4 instances DOWN", when, statuses(down))
						}
						for id := range before {
							if _, ok := down[id]; !ok {
								t.Errorf("%s: instance %s is gone, want it DOWN", when, id)
							}
						}
					}
				}
				wantDown("down", down)
				if mode == OutageExpire && ipl == 1 {
					for _, inst := range before {
						if s.keeper.alive(clientv3.LeaseID(inst.lease)) {
							t.Errorf("lease %d of a crashed instance is still kept alive", inst.lease)
						}
					}
				}

				// The outage lasts through churn; taking it down again changes nothing.
				steps(100)
				_, down = check("down, after churn")
				wantDown("down, after churn", down)
				if ev, err := s.TakeServiceDown(ctx); err != nil || ev.Changed != 0 {
					t.Errorf("TakeServiceDown again: %+v, %v; want nothing changed", ev, err)
				}

				ev, err = s.BringServiceBack(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if ev.Kind != ServiceBack || ev.Changed != 4 {
					t.Errorf("BringServiceBack: %+v, want 4 instances", ev)
				}
				_, back := check("back")
				if len(back) != 4 || statuses(back)[StatusUp] != 4 {
					t.Errorf("back: %v, want 4 instances UP", statuses(back))
				}
				for id, inst := range back {
					_, old := before[id]
					if old != (mode == OutageDown) {
						t.Errorf("instance %s: known before %v; want the same instances back when marked DOWN, new ones after a crash", id, old)
					}
					if !s.keeper.alive(clientv3.LeaseID(inst.lease)) {
						t.Errorf("instance %s: lease %d is not kept alive", id, inst.lease)
					}
				}
				if ev, err := s.BringServiceBack(ctx); err != nil || ev.Changed != 0 {
					t.Errorf("BringServiceBack again: %+v, %v; want nothing changed", ev, err)
				}
				steps(100)
				_, after := check("back, after churn")
				if !maps.Equal(summary(after), summary(back)) {
					t.Errorf("churn changed the service after the outage")
				}
			})
		}
	}
}

func TestServiceOutageNeedsLoadAndConfig(t *testing.T) {
	c := startEtcd(t)
	ctx := testContext(t, time.Minute)
	cfg := smallConfig("/outage-errors")
	cfg.LeaseTTL = time.Hour
	cfg.ServiceOutage = ServiceOutage{Domain: "default", Project: "default", Service: "order-svc", After: time.Hour, Duration: time.Hour}
	s, err := New(c, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeServiceDown(ctx); err == nil || !strings.Contains(err.Error(), "before a successful Load") {
		t.Errorf("TakeServiceDown before Load: %v", err)
	}
	plain := loaded(t, c, smallConfig("/outage-none"))
	for name, step := range map[string]func(context.Context) (Event, error){"TakeServiceDown": plain.TakeServiceDown, "BringServiceBack": plain.BringServiceBack} {
		if _, err := step(ctx); err == nil || !strings.Contains(err.Error(), "no service outage configured") {
			t.Errorf("%s without a configured outage: %v", name, err)
		}
	}
}

// TestRunStagesServiceOutages: Run takes the service's instances away after
// After, brings them back after Duration, and again every Every, while
// churn goes on.
func TestRunStagesServiceOutages(t *testing.T) {
	c := startEtcd(t)
	cfg := smallConfig("/outage-run")
	cfg.LeaseTTL = 5 * time.Second
	cfg.ChurnRate = 50
	cfg.ServiceOutage = ServiceOutage{Domain: "default", Project: "default", Service: "order-svc",
		After: 300 * time.Millisecond, Duration: 800 * time.Millisecond, Every: 2 * time.Second}
	s, err := New(c, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	wait.ForNoError(t, "load", 30*time.Second, func() (bool, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.loaded, nil
	})
	s.mu.Lock()
	prefix := s.view.layout.InstanceKey("default", "default", s.view.pinned.id, "")
	s.mu.Unlock()
	count := func() (int, error) {
		resp, err := c.Get(testContext(t, 10*time.Second), prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			return 0, err
		}
		return int(resp.Count), nil
	}
	for round := 1; round <= 2; round++ {
		wait.ForNoError(t, fmt.Sprintf("outage %d: no instance left", round), 30*time.Second, func() (bool, error) {
			n, err := count()
			return n == 0, err
		})
		wait.ForNoError(t, fmt.Sprintf("outage %d over: 3 instances back", round), 30*time.Second, func() (bool, error) {
			n, err := count()
			return n == cfg.InstancesPerService, err
		})
	}
}
