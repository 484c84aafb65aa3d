package simulator

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"zero", func(c *Config) { *c = Config{} }, "prefix"},
		{"no slash", func(c *Config) { c.Prefix = "cse-sr" }, "prefix"},
		{"trailing slash", func(c *Config) { c.Prefix = "/cse-sr/" }, "prefix"},
		{"root", func(c *Config) { c.Prefix = "/" }, "prefix"},
		{"no domain", func(c *Config) { c.Domains = 0 }, "domains"},
		{"no project", func(c *Config) { c.ProjectsPerDomain = 0 }, "projects"},
		{"negative services", func(c *Config) { c.ServicesPerProject = -1 }, "services"},
		{"negative instances", func(c *Config) { c.InstancesPerService = -1 }, "instances"},
		{"too many", func(c *Config) { c.Domains, c.ProjectsPerDomain, c.ServicesPerProject = 1000, 1000, 1000 }, "more than"},
		{"overflow", func(c *Config) { c.Domains, c.ProjectsPerDomain = math.MaxInt, math.MaxInt }, "more than"},
		{"negative churn", func(c *Config) { c.ChurnRate = -1 }, "churn"},
		{"NaN churn", func(c *Config) { c.ChurnRate = math.NaN() }, "churn"},
		{"short TTL", func(c *Config) { c.LeaseTTL = time.Millisecond }, "lease TTL"},
		{"no lease", func(c *Config) { c.InstancesPerLease = 0 }, "per lease"},
		{"zero weights", func(c *Config) { c.Frameworks = []FrameworkShare{{Name: "x"}} }, "weights"},
		{"negative weight", func(c *Config) { c.Frameworks = []FrameworkShare{{Name: "x", Weight: -1}} }, "negative"},
		{"version without name", func(c *Config) { c.Frameworks = []FrameworkShare{{Version: "1", Weight: 1}} }, "without a name"},
		{"batch of 1", func(c *Config) { c.BatchSize = 1 }, "batch"},
		{"too many writers", func(c *Config) { c.Writers = MaxWriters + 1 }, "writers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.change(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate: %v, want an error about %q", err, tc.want)
			}
		})
	}
	ok := DefaultConfig()
	ok.ServicesPerProject, ok.InstancesPerService, ok.ChurnRate = 0, 0, 0
	ok.Frameworks = []FrameworkShare{{Name: "go-chassis", Version: "2.7.0", Weight: 1}}
	if err := ok.Validate(); err != nil {
		t.Errorf("empty projects, no churn, one framework: %v", err)
	}
}

func TestIDs(t *testing.T) {
	seen := map[string]bool{}
	for n := range uint64(100_000) {
		id := instanceID(7, n)
		if !hex32.MatchString(id) || seen[id] {
			t.Fatalf("instance id %d: %q (dup %v)", n, id, seen[id])
		}
		seen[id] = true
	}
	if id := serviceID(7, idService, 0); !hex40.MatchString(id) || id == serviceID(8, idService, 0) || id == serviceID(7, idGlobal, 0) {
		t.Errorf("service ids: %q", id)
	}
	if instanceID(7, 5) != instanceID(7, 5) {
		t.Error("ids are not reproducible")
	}
	names := map[string]bool{}
	for i := range 100 {
		names[serviceName(i)] = true
	}
	if len(names) != 100 || serviceName(0) != "order-svc" || serviceName(12) != "order-svc-2" {
		t.Errorf("service names: %d distinct, %q, %q", len(names), serviceName(0), serviceName(12))
	}
	if domainName(0) != "default" || domainName(2) != "tenant-2" || projectName(0) != "default" || projectName(1) != "proj-1" {
		t.Error("domain or project names")
	}
}

// The keeper's queue hands out leases in due order, skips removed ones and
// queues each again a period later.
func TestKeeperQueue(t *testing.T) {
	k := newKeeper(nil, 3*time.Second, log.NewNopLogger(), func(clientv3.LeaseID) {})
	for id := range clientv3.LeaseID(5) {
		k.add(id + 1)
	}
	if ids, next := k.due(time.Now(), maxBurst); len(ids) != 0 || next.IsZero() {
		t.Fatalf("fresh leases due: %v (next %v)", ids, next)
	}
	k.remove(3)
	later := time.Now().Add(k.period)
	ids, next := k.due(later, 2)
	if !slices.Equal(ids, []clientv3.LeaseID{1, 2}) || !next.Equal(k.queue[k.head].at) {
		t.Fatalf("due: %v, want [1 2]", ids)
	}
	ids, next = k.due(later, maxBurst)
	if !slices.Equal(ids, []clientv3.LeaseID{4, 5}) {
		t.Fatalf("due: %v, want [4 5] (3 removed)", ids)
	}
	if want := later.Add(k.period); !next.Equal(want) {
		t.Errorf("next due %v, want %v", next, want)
	}
	if k.size() != 4 || k.alive(3) || !k.alive(4) {
		t.Errorf("size %d", k.size())
	}
	k.requeueAll(later)
	ids, _ = k.due(later, maxBurst)
	slices.Sort(ids)
	if !slices.Equal(ids, []clientv3.LeaseID{1, 2, 4, 5}) {
		t.Errorf("after requeue: %v", ids)
	}

	// Many rounds keep the queue compact.
	now := later
	for range 2000 {
		now = now.Add(k.period)
		if ids, _ := k.due(now, maxBurst); len(ids) != 4 {
			t.Fatalf("round: %v", ids)
		}
	}
	if len(k.queue)-k.head != 4 || len(k.queue) > 2048 {
		t.Errorf("queue of %d entries from %d", len(k.queue), k.head)
	}
}
