package simulator

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/servicecomb/servicecomb_exporter/internal/embedetcd"
)

// startEtcd starts an embedded etcd on a random loopback port and returns a
// client of it; both stop when the test ends.
func startEtcd(t testing.TB) *clientv3.Client {
	t.Helper()
	srv, err := embedetcd.Start(embedetcd.Options{Dir: t.TempDir(), Quiet: true, NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{srv.Endpoint},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testContext(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// registry is what etcd holds under a prefix, parsed back.
type registry struct {
	keys      int
	domains   map[string]bool
	projects  map[string]bool           // domain/project
	services  map[string]MicroService   // domain/project/serviceId
	indexes   map[string]string         // domain/project/env/app/name/version → serviceId
	instances map[string]storedInstance // domain/project/serviceId/instanceId
	leaseKeys map[string]storedLeaseKey // domain/project/serviceId/instanceId
	raw       map[string]map[string]any // JSON values as maps, by key
	other     []string
}

type storedInstance struct {
	Instance
	lease int64
}

type storedLeaseKey struct {
	value string
	lease int64
}

// readRegistry reads every key under l's root in one consistent get.
func readRegistry(t testing.TB, c *clientv3.Client, l Layout) registry {
	t.Helper()
	ctx := testContext(t, 30*time.Second)
	resp, err := c.Get(ctx, l.Root(), clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	r := registry{
		keys:      len(resp.Kvs),
		domains:   map[string]bool{},
		projects:  map[string]bool{},
		services:  map[string]MicroService{},
		indexes:   map[string]string{},
		instances: map[string]storedInstance{},
		leaseKeys: map[string]storedLeaseKey{},
		raw:       map[string]map[string]any{},
	}
	for _, kv := range resp.Kvs {
		key := string(kv.Key)
		cut := func(prefix string) (string, bool) { return strings.CutPrefix(key, prefix) }
		if rest, ok := cut(l.DomainsPrefix()); ok {
			r.domains[rest] = true
			continue
		}
		if rest, ok := cut(l.ProjectsPrefix()); ok {
			r.projects[rest] = true
			continue
		}
		if rest, ok := cut(l.ServiceIndexesPrefix()); ok {
			r.indexes[rest] = string(kv.Value)
			continue
		}
		if rest, ok := cut(l.InstanceLeasesPrefix()); ok {
			r.leaseKeys[rest] = storedLeaseKey{value: string(kv.Value), lease: kv.Lease}
			continue
		}
		var m map[string]any
		if rest, ok := cut(l.ServicesPrefix()); ok {
			var ms MicroService
			if err := json.Unmarshal(kv.Value, &ms); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			if err := json.Unmarshal(kv.Value, &m); err != nil {
				t.Fatal(err)
			}
			r.services[rest], r.raw[key] = ms, m
			continue
		}
		if rest, ok := cut(l.InstancesPrefix()); ok {
			var inst Instance
			if err := json.Unmarshal(kv.Value, &inst); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			if err := json.Unmarshal(kv.Value, &m); err != nil {
				t.Fatal(err)
			}
			r.instances[rest], r.raw[key] = storedInstance{Instance: inst, lease: kv.Lease}, m
			continue
		}
		r.other = append(r.other, key)
	}
	return r
}

func isGlobal(ms MicroService) bool {
	return ms.AppID == GlobalAppID && ms.ServiceName == GlobalServiceName
}

// stats counts r the way Stats does.
func (r registry) stats() Stats {
	st := Stats{
		Domains:   len(r.domains),
		Projects:  len(r.projects),
		Keys:      r.keys,
		ByProject: map[string]ProjectStats{},
	}
	for dp := range r.projects {
		d, p, _ := strings.Cut(dp, "/")
		st.ByProject[dp] = ProjectStats{Domain: d, Project: p,
			InstancesByStatus: map[string]int{}, ServicesByFramework: map[string]int{}}
	}
	segs := func(k string) []string { return strings.Split(k, "/") }
	for k, ms := range r.services {
		s := segs(k)
		dp := s[0] + "/" + s[1]
		ps := st.ByProject[dp]
		ps.Services++
		if isGlobal(ms) {
			ps.GlobalServices++
		}
		fw := ""
		if ms.Framework != nil {
			fw = ms.Framework.Name
		}
		ps.ServicesByFramework[fw]++
		st.ByProject[dp] = ps
		st.Services++
	}
	leases := map[int64]bool{}
	for k, inst := range r.instances {
		s := segs(k)
		dp := s[0] + "/" + s[1]
		ps := st.ByProject[dp]
		ps.Instances++
		ps.InstancesByStatus[inst.Status]++
		if isGlobal(r.services[s[0]+"/"+s[1]+"/"+s[2]]) {
			ps.GlobalInstances++
		}
		st.ByProject[dp] = ps
		st.Instances++
		leases[inst.lease] = true
	}
	st.Leases = len(leases)
	return st
}

var (
	hex40 = regexp.MustCompile(`^[0-9a-f]{40}$`)
	hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

// checkConsistent checks the invariants Service Center keeps: every key
// where its parent exists, instance and lease keys in pairs on one lease,
// index and file keys in pairs.
func checkConsistent(t testing.TB, r registry) {
	t.Helper()
	if len(r.other) > 0 {
		t.Errorf("unexpected keys: %v", r.other)
	}
	for dp := range r.projects {
		d, _, _ := strings.Cut(dp, "/")
		if !r.domains[d] {
			t.Errorf("project %s: no domain key", dp)
		}
	}
	indexed := map[string]int{}
	for k, sid := range r.indexes {
		s := strings.Split(k, "/")
		if len(s) != 6 {
			t.Errorf("index %s: want 6 segments", k)
			continue
		}
		ms, ok := r.services[s[0]+"/"+s[1]+"/"+sid]
		if !ok {
			t.Errorf("index %s: service %s does not exist", k, sid)
			continue
		}
		if ms.Environment != s[2] || ms.AppID != s[3] || ms.ServiceName != s[4] || ms.Version != s[5] {
			t.Errorf("index %s does not match service %+v", k, ms)
		}
		indexed[s[0]+"/"+s[1]+"/"+sid]++
	}
	for k, ms := range r.services {
		s := strings.Split(k, "/")
		if len(s) != 3 || !r.projects[s[0]+"/"+s[1]] {
			t.Errorf("service %s: bad key or no project key", k)
		}
		if ms.ServiceID != s[len(s)-1] || !hex40.MatchString(ms.ServiceID) {
			t.Errorf("service %s: id %q", k, ms.ServiceID)
		}
		if indexed[k] != 1 {
			t.Errorf("service %s: %d index keys, want 1", k, indexed[k])
		}
	}
	for k, inst := range r.instances {
		s := strings.Split(k, "/")
		if len(s) != 4 {
			t.Errorf("instance %s: want 4 segments", k)
			continue
		}
		ms, ok := r.services[s[0]+"/"+s[1]+"/"+s[2]]
		if !ok {
			t.Errorf("instance %s: its service does not exist", k)
		}
		if inst.InstanceID != s[3] || inst.ServiceID != s[2] || !hex32.MatchString(inst.InstanceID) {
			t.Errorf("instance %s: ids %q %q", k, inst.InstanceID, inst.ServiceID)
		}
		if ok && inst.Version != ms.Version {
			t.Errorf("instance %s: version %q, service's %q", k, inst.Version, ms.Version)
		}
		if !validStatus(inst.Status) {
			t.Errorf("instance %s: status %q", k, inst.Status)
		}
		lk, ok := r.leaseKeys[k]
		switch {
		case !ok:
			t.Errorf("instance %s: no lease key", k)
		case inst.lease == 0 || lk.lease != inst.lease:
			t.Errorf("instance %s: lease %d, lease key's %d", k, inst.lease, lk.lease)
		case lk.value != strconv.FormatInt(inst.lease, 10):
			t.Errorf("instance %s: lease key value %q, lease %d", k, lk.value, inst.lease)
		}
	}
	for k := range r.leaseKeys {
		if _, ok := r.instances[k]; !ok {
			t.Errorf("lease key %s: no instance", k)
		}
	}
}

func validStatus(s string) bool {
	for _, st := range InstanceStatuses() {
		if s == st {
			return true
		}
	}
	return false
}

// diffStats describes the differences of got from want ("" if none).
func diffStats(got, want Stats) string {
	var b strings.Builder
	g, w := got, want
	g.ByProject, w.ByProject = nil, nil
	if !reflect.DeepEqual(g, w) {
		fmt.Fprintf(&b, "totals: got %+v, want %+v\n", g, w)
	}
	for k, wp := range want.ByProject {
		if gp := got.ByProject[k]; !reflect.DeepEqual(gp, wp) {
			fmt.Fprintf(&b, "%s: got %+v, want %+v\n", k, gp, wp)
		}
	}
	for k := range got.ByProject {
		if _, ok := want.ByProject[k]; !ok {
			fmt.Fprintf(&b, "%s: unexpected project\n", k)
		}
	}
	return b.String()
}

// dropEmpty removes zero counts from the per-status and per-framework maps,
// which the view and etcd may fill differently.
func dropEmpty(st Stats) Stats {
	for k, ps := range st.ByProject {
		for s, n := range ps.InstancesByStatus {
			if n == 0 {
				delete(ps.InstancesByStatus, s)
			}
		}
		for f, n := range ps.ServicesByFramework {
			if n == 0 {
				delete(ps.ServicesByFramework, f)
			}
		}
		st.ByProject[k] = ps
	}
	return st
}

func smallConfig(prefix string) Config {
	cfg := DefaultConfig()
	cfg.Prefix = prefix
	return cfg
}
