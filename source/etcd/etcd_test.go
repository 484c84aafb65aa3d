package etcd

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/servicecomb/servicecomb_exporter/config"
	"github.com/servicecomb/servicecomb_exporter/internal/embedetcd"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/registrytest"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/wait"
	"github.com/servicecomb/servicecomb_exporter/registry"
)

const prefix = registrytest.Prefix

// recorder is a StatusReporter that remembers the last report.
type recorder struct {
	mu     sync.Mutex
	down   bool
	detail string
	downs  int
}

func (r *recorder) SourceDown(_, detail string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down, r.detail = true, detail
	r.downs++
}

func (r *recorder) SourceUp(string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = false
}

func (r *recorder) state() (bool, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.down, r.detail
}

func etcdConfig(endpoints ...string) config.EtcdConfig {
	return config.EtcdConfig{
		Endpoints:      endpoints,
		Prefix:         prefix,
		DialTimeout:    model.Duration(2 * time.Second),
		RequestTimeout: model.Duration(5 * time.Second),
	}
}

// runSource starts a source with fast probes and retries for tests.
// tweak, if not nil, changes the options first.
func runSource(t *testing.T, cfg config.EtcdConfig, tweak func(*Options)) (*Source, *recorder) {
	t.Helper()
	rec := &recorder{}
	o := Options{
		Name: "test", Config: cfg, Rules: registry.Rules{ExcludeGlobal: true}, Status: rec,
		PageSize: 7, ServicesPerRange: 2, ProbeInterval: 100 * time.Millisecond, ProbeTimeout: time.Second,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	}
	if tweak != nil {
		tweak(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("source did not stop within 10s")
		}
	})
	return s, rec
}

// assertCaughtUp waits until the source has applied everything up to
// etcd's current revision, then compares its counts with etcd's exactly.
func assertCaughtUp(t *testing.T, s *Source, c *clientv3.Client, when string) {
	t.Helper()
	want, rev := registrytest.CountFromEtcd(t, c)
	wait.For(t, fmt.Sprintf("source at revision %d (%s)", rev, when), 10*time.Second, func() bool {
		snap := s.Snapshot()
		return snap.Synced && snap.Revision >= rev
	})
	got := s.Snapshot().Counts
	for name, pair := range map[string][2]any{
		"domains": {got.Domains, want.Domains}, "projects": {got.Projects, want.Projects},
		"services": {got.Services, want.Services}, "instances": {got.Instances, want.Instances},
		"orphans": {got.Orphans, want.Orphans}, "schemas": {got.Schemas, want.Schemas},
		"Service Center's instances": {got.ServiceCenter, want.ServiceCenter},
	} {
		if fmt.Sprint(pair[0]) != fmt.Sprint(pair[1]) {
			t.Fatalf("%s: %s differ from etcd:\n got %v\nwant %v", when, name, pair[0], pair[1])
		}
	}
}

// assertChurn compares the source's registrations and deregistrations
// with what the world did since its ResetChurn; the source must be caught
// up (assertCaughtUp).
func assertChurn(t *testing.T, s *Source, w *registrytest.World, when string) {
	t.Helper()
	got := s.Snapshot().Churn
	if fmt.Sprint(got.Registrations) != fmt.Sprint(w.Churn.Registrations) ||
		fmt.Sprint(got.Deregistrations) != fmt.Sprint(w.Churn.Deregistrations) {
		t.Fatalf("%s: churn differs from what was written:\n got +%v -%v\nwant +%v -%v", when,
			got.Registrations, got.Deregistrations, w.Churn.Registrations, w.Churn.Deregistrations)
	}
}

func TestRandomChangesKeepCountsExact(t *testing.T) {
	server := registrytest.StartEtcd(t, embedetcd.Options{})
	c := registrytest.Client(t, server.Endpoint)
	w := registrytest.NewWorld(t, c, 1)
	w.AddServiceCenter()
	for i := 0; i < 40; i++ { // a registry to list first
		w.RandomOp()
	}
	w.ResetChurn() // the list counts nothing
	s, _ := runSource(t, etcdConfig(server.Endpoint), nil)
	assertCaughtUp(t, s, c, "after the initial list")
	assertChurn(t, s, w, "after the initial list")
	var orphans, schemas, serviceCenter bool
	for batch := 0; batch < 12; batch++ {
		if batch%4 == 0 {
			w.AddServiceCenter() // a replica of another version
		}
		for i := 0; i < 25; i++ {
			w.RandomOp()
		}
		assertCaughtUp(t, s, c, fmt.Sprintf("after batch %d", batch))
		assertChurn(t, s, w, fmt.Sprintf("after batch %d", batch))
		counts := s.Snapshot().Counts
		orphans = orphans || len(counts.Orphans) > 0
		schemas = schemas || len(counts.Schemas) > 0
		serviceCenter = serviceCenter || counts.ServiceCenter.Instances != [registry.NumStatuses]int64{}
	}
	if !orphans || !schemas || !serviceCenter {
		t.Errorf("the random registry never had orphans (%v), schemas (%v) or Service Center instances (%v)", orphans, schemas, serviceCenter)
	}
	snap := s.Snapshot()
	if snap.DecodeErrors["instance"] == 0 {
		t.Error("malformed instances and keys were not counted as decode errors")
	}
	if snap.WatchEvents[registry.WatchEvent{Kind: "instance", Type: "DELETE"}] == 0 {
		t.Error("no instance deletes counted")
	}
	if snap.Syncs["success"] != 1 {
		t.Errorf("%d full syncs, want 1: the watch alone kept the counts", snap.Syncs["success"])
	}
}

func TestLeaseExpiryRemovesInstances(t *testing.T) {
	server := registrytest.StartEtcd(t, embedetcd.Options{})
	c := registrytest.Client(t, server.Endpoint)
	w := registrytest.NewWorld(t, c, 3)
	w.AddService()
	s, _ := runSource(t, etcdConfig(server.Endpoint), nil)
	wait.For(t, "sync", 10*time.Second, func() bool { return s.Snapshot().Synced })
	lease, err := c.Grant(context.Background(), 1) // a real expiry, one second
	if err != nil {
		t.Fatal(err)
	}
	w.Put(w.InstanceKey(w.Services[0], "short-lived"), `{"status":"UP"}`, clientv3.WithLease(lease.ID))
	wait.For(t, "instance counted", 10*time.Second, func() bool { return total(s.Snapshot().Counts.Instances) == 1 })
	wait.For(t, "instance gone after its lease expired", 15*time.Second, func() bool {
		return total(s.Snapshot().Counts.Instances) == 0
	})
	assertCaughtUp(t, s, c, "after expiry")
	dp := registry.DomainProject{Domain: w.Services[0].Domain, Project: w.Services[0].Project}
	if churn := s.Snapshot().Churn; churn.Registrations[dp] != 1 || churn.Deregistrations[dp] != 1 {
		t.Errorf("after a registration and its lease's expiry: +%v -%v, want 1 and 1 in %v", churn.Registrations, churn.Deregistrations, dp)
	}
}

// TestRelistKeepsChurnCounters: the counters go on across a relist,
// neither reset nor raised by the registry listed again.
func TestRelistKeepsChurnCounters(t *testing.T) {
	server := registrytest.StartEtcd(t, embedetcd.Options{})
	c := registrytest.Client(t, server.Endpoint)
	w := registrytest.NewWorld(t, c, 13)
	w.AddServiceCenter()
	for i := 0; i < 30; i++ {
		w.RandomOp()
	}
	w.ResetChurn()
	resync := make(chan struct{})
	s, _ := runSource(t, etcdConfig(server.Endpoint), func(o *Options) { o.hooks.resync = resync })
	// Changes made before the first list are in it, not in the counters.
	wait.For(t, "first sync", 10*time.Second, func() bool { return s.Snapshot().Synced })
	for round := 0; round < 3; round++ {
		for i := 0; i < 30; i++ {
			w.RandomOp()
		}
		assertCaughtUp(t, s, c, fmt.Sprintf("round %d", round))
		assertChurn(t, s, w, fmt.Sprintf("round %d", round))
		syncs := s.Snapshot().Syncs["success"]
		resync <- struct{}{}
		wait.For(t, "the relist", 10*time.Second, func() bool { return s.Snapshot().Syncs["success"] > syncs })
		assertCaughtUp(t, s, c, fmt.Sprintf("relist after round %d", round))
		assertChurn(t, s, w, fmt.Sprintf("relist after round %d", round))
	}
	if churn := s.Snapshot().Churn; len(churn.Registrations) == 0 || len(churn.Deregistrations) == 0 {
		t.Errorf("no churn to keep: +%v -%v", churn.Registrations, churn.Deregistrations)
	}
}

func total(m map[registry.InstanceGroup]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}

func TestCompactionPastWatchRevisionResyncs(t *testing.T) {
	server := registrytest.StartEtcd(t, embedetcd.Options{})
	c := registrytest.Client(t, server.Endpoint)
	w := registrytest.NewWorld(t, c, 5)
	for i := 0; i < 20; i++ {
		w.RandomOp()
	}
	var once sync.Once
	s, rec := runSource(t, etcdConfig(server.Endpoint), func(o *Options) {
		// Between the first list and its watch, the registry changes and
		// etcd compacts past the listed revision: the watch cannot start
		// where the list ended.
		o.hooks.afterList = func(int64) {
			once.Do(func() {
				for i := 0; i < 20; i++ {
					w.RandomOp()
				}
				resp, err := c.Get(context.Background(), "x")
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := c.Compact(context.Background(), resp.Header.Revision); err != nil {
					t.Error(err)
				}
			})
		}
	})
	wait.For(t, "second sync", 10*time.Second, func() bool { return s.Snapshot().Syncs["success"] >= 2 })
	assertCaughtUp(t, s, c, "after the resync")
	// What changed between the two lists was seen by no watch: the
	// second list counts none of it.
	if churn := s.Snapshot().Churn; len(churn.Registrations)+len(churn.Deregistrations) != 0 {
		t.Errorf("a relist counted churn: +%v -%v", churn.Registrations, churn.Deregistrations)
	}
	if down, _ := rec.state(); down || rec.downs != 0 {
		t.Error("compaction reported the backend as down")
	}
}

func TestUnknownPrefixAndGlobalServicesKept(t *testing.T) {
	server := registrytest.StartEtcd(t, embedetcd.Options{})
	c := registrytest.Client(t, server.Endpoint)
	w := registrytest.NewWorld(t, c, 7)
	w.Put("/custom/ms/files/default/default/sc", `{"appId":"default","serviceName":"SERVICECENTER"}`)
	w.Put("/custom/inst/files/default/default/sc/i1", `{"status":"UP"}`)
	w.Put(prefix+"/inst/files/d/p/s/i", `{"status":"UP"}`) // another prefix: not ours
	// Keys of a project that has no project key: the listing ranges still
	// cover them.
	w.Put("/custom/ms/files/stray/proj/s1", `{"appId":"a"}`)
	w.Put("/custom/inst/files/stray/proj/s1/i1", `{"status":"DOWN"}`)
	w.Put("/custom/inst/files/zzz/proj/s1/i1", `{"status":"DOWN"}`) // no service: not counted, as in Service Center
	cfg := etcdConfig(server.Endpoint)
	cfg.Prefix = "/custom"
	s, err := New(Options{Name: "kept", Config: cfg, Rules: registry.Rules{ExcludeGlobal: false}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	wait.For(t, "sync", 10*time.Second, func() bool { return s.Snapshot().Synced })
	counts := s.Snapshot().Counts
	if counts.Services[registry.ServiceGroup{Domain: "default", Project: "default", Framework: "UNKNOWN", FrameworkVersion: "UNKNOWN"}] != 1 ||
		total(counts.Instances) != 2 || counts.Instances[registry.InstanceGroup{Domain: "stray", Project: "proj", Status: "DOWN"}] != 1 {
		t.Errorf("global service kept on request: services %v instances %v", counts.Services, counts.Instances)
	}
	if fmt.Sprint(counts.Orphans) != "map[{zzz proj}:1]" {
		t.Errorf("orphans %v, want the DOWN instance of zzz/proj", counts.Orphans)
	}
	if want := (registry.ServiceCenterCounts{Services: 1, Instances: [registry.NumStatuses]int64{1}}); counts.ServiceCenter != want {
		t.Errorf("Service Center's instances %+v, want %+v whatever the rules", counts.ServiceCenter, want)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]config.EtcdConfig{
		"missing password": {Endpoints: []string{"http://127.0.0.1:1"}, PasswordFile: "/nonexistent/password"},
		"missing CA":       {Endpoints: []string{"https://127.0.0.1:1"}, TLSConfig: tlsConfigWithCA("/nonexistent/ca.pem")},
	} {
		if _, err := New(Options{Name: "x", Config: cfg}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := New(Options{Config: etcdConfig("http://127.0.0.1:1")}); err == nil {
		t.Error("empty name: no error")
	}
}

func tlsConfigWithCA(caFile string) commoncfg.TLSConfig {
	return commoncfg.TLSConfig{CAFile: caFile}
}

// TestEmptyRegistryWatchStartsAtCurrentRevision: an empty registry at a
// later revision must not make the watch replay history (which would count
// the keys created and deleted before the list).
func TestEmptyRegistryWatchStartsAtCurrentRevision(t *testing.T) {
	server := registrytest.StartEtcd(t, embedetcd.Options{})
	c := registrytest.Client(t, server.Endpoint)
	w := registrytest.NewWorld(t, c, 9)
	w.Put(prefix+"/inst/files/d/p/s/i", `{"status":"UP"}`)
	w.Del(prefix + "/inst/files/d/p/s/i")
	s, _ := runSource(t, etcdConfig(server.Endpoint), nil)
	wait.For(t, "sync", 10*time.Second, func() bool { return s.Snapshot().Synced })
	if rev := s.Snapshot().Revision; rev < 3 {
		t.Fatalf("listed an empty registry at revision %d, want etcd's current revision (3)", rev)
	}
	w.Put(prefix+"/inst/files/d/p/s/i2", `{"status":"UP"}`)
	assertCaughtUp(t, s, c, "after a put into an empty registry")
	if got := s.Snapshot().WatchEvents[registry.WatchEvent{Kind: "instance", Type: "PUT"}]; got != 1 {
		t.Errorf("%d instance PUTs applied from the watch, want 1 (no replay of history)", got)
	}
}

func TestEndpointPasswordsAreRedacted(t *testing.T) {
	got := redactedEndpoints([]string{"http://root:s3cret@127.0.0.1:2379", "https://127.0.0.1:2380"})
	if strings.Contains(got, "s3cret") || !strings.Contains(got, "root:xxxxx@127.0.0.1:2379") {
		t.Errorf("redacted endpoints %q", got)
	}
}

// TestSchemaSummariesListedExactly: schema summaries are counted by key
// per domain and project, whether the list reads their prefix whole (few)
// or cut like the instances' (more than unsplitPages pages), with or without
// their service.
func TestSchemaSummariesListedExactly(t *testing.T) {
	for _, n := range []int{20, 3 * unsplitPages * 7} { // runSource's page size is 7
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			server := registrytest.StartEtcd(t, embedetcd.Options{})
			c := registrytest.Client(t, server.Endpoint)
			w := registrytest.NewWorld(t, c, 17)
			for i := 0; i < 10; i++ {
				w.AddService()
			}
			for i := 0; i < n; i++ {
				s := w.Services[i%len(w.Services)]
				w.Put(w.SchemaKey(s, fmt.Sprintf("schema-%d", i)), "h")
			}
			w.Put(prefix+"/ms/schema-sum/nosvc/p/ghost/s", "h") // its service never existed
			s, _ := runSource(t, etcdConfig(server.Endpoint), nil)
			assertCaughtUp(t, s, c, "after the list")
			var total int64
			for _, v := range s.Snapshot().Counts.Schemas {
				total += v
			}
			if total != int64(n+1) {
				t.Errorf("%d schemas counted, want %d", total, n+1)
			}
		})
	}
}
