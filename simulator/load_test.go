package simulator

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestLoadWritesExactlyWhatItReports(t *testing.T) {
	c := startEtcd(t)
	for _, tc := range []struct {
		name string
		cfg  func(*Config)
	}{
		{"defaults", func(*Config) {}},
		{"shared leases", func(c *Config) { c.InstancesPerLease = 4; c.BatchSize = 10; c.Writers = 3 }},
		{"more projects than services", func(c *Config) {
			c.Domains, c.ProjectsPerDomain, c.ServicesPerProject, c.InstancesPerService = 4, 3, 1, 0
		}},
		{"big batches", func(c *Config) {
			c.Domains, c.ServicesPerProject, c.InstancesPerService = 2, 20, 7
			c.InstancesPerLease = 1000
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := smallConfig("/t/" + strings.ReplaceAll(tc.name, " ", "-"))
			tc.cfg(&cfg)
			st, err := Load(testContext(t, time.Minute), c, cfg)
			if err != nil {
				t.Fatal(err)
			}
			r := readRegistry(t, c, Layout{Prefix: cfg.Prefix})
			checkConsistent(t, r)
			if d := diffStats(dropEmpty(r.stats()), dropEmpty(st)); d != "" {
				t.Errorf("etcd differs from the reported stats:\n%s", d)
			}

			n, _ := cfg.totalInstances()
			wantInstances := int(n) + 1 // and Service Center's own
			wantServices := cfg.Domains*cfg.ProjectsPerDomain*cfg.ServicesPerProject + 1
			if st.Domains != cfg.Domains || st.Projects != cfg.Domains*cfg.ProjectsPerDomain ||
				st.Services != wantServices || st.Instances != wantInstances {
				t.Errorf("stats %+v: want %d domains, %d services, %d instances", st, cfg.Domains, wantServices, wantInstances)
			}
			wantLeases := 1 + (int(n)+cfg.InstancesPerLease-1)/cfg.InstancesPerLease
			if st.Leases != wantLeases {
				t.Errorf("%d leases, want %d", st.Leases, wantLeases)
			}
			if st.Keys != st.Domains+st.Projects+2*st.Services+2*st.Instances {
				t.Errorf("keys %d do not add up", st.Keys)
			}
			if gp := st.ByProject["default/default"]; gp.GlobalServices != 1 || gp.GlobalInstances != 1 {
				t.Errorf("default/default: %+v, want Service Center's own service and instance", gp)
			}
		})
	}
}

// The recorded values of a real Service Center: the simulator's types must
// carry every field of them, under the same names.
const (
	recordedService  = `{"serviceId":"1c30ee2de162f00f03a86d15ba159b501d0ffa59","appId":"demo-app","serviceName":"order-svc","version":"1.0.0","level":"BACK","status":"UP","timestamp":"1795533707","modTimestamp":"1795533707","framework":{"name":"servicecomb-java-chassis","version":"2.8.0"}}`
	recordedInstance = `{"instanceId":"4df3f1d78b6849ea8820746a7f509fb6","serviceId":"1c30ee2de162f00f03a86d15ba159b501d0ffa59","endpoints":["rest://127.0.0.1:8081"],"hostName":"order-host-1","status":"UP","healthCheck":{"mode":"push","interval":30,"times":3},"timestamp":"1795533708","modTimestamp":"1795533708","version":"1.0.0"}`
)

func TestTypesRoundTripRecordedValues(t *testing.T) {
	roundTrip := func(recorded string, v any) {
		t.Helper()
		if err := json.Unmarshal([]byte(recorded), v); err != nil {
			t.Fatal(err)
		}
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var want, got map[string]any
		_ = json.Unmarshal([]byte(recorded), &want)
		_ = json.Unmarshal(again, &got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round trip of %s gave %s", recorded, again)
		}
	}
	roundTrip(recordedService, &MicroService{})
	roundTrip(recordedInstance, &Instance{})
}

func TestLoadLayoutAndValues(t *testing.T) {
	c := startEtcd(t)
	cfg := smallConfig("/layout")
	cfg.Domains, cfg.ProjectsPerDomain, cfg.ServicesPerProject = 3, 3, 12
	if _, err := Load(testContext(t, time.Minute), c, cfg); err != nil {
		t.Fatal(err)
	}
	l := Layout{Prefix: "/layout"}
	r := readRegistry(t, c, l)

	for _, d := range []string{"default", "tenant-1", "tenant-2"} {
		if !r.domains[d] {
			t.Errorf("no domain %s in %v", d, r.domains)
		}
		for _, p := range []string{"default", "proj-1", "proj-2"} {
			if !r.projects[d+"/"+p] {
				t.Errorf("no project %s/%s", d, p)
			}
		}
	}

	// Keys and values of one service and its instance, by the layout's
	// builders and by hand.
	var global MicroService
	var frameworks = map[string]int{}
	for k, ms := range r.services {
		if isGlobal(ms) {
			if k != "default/default/"+ms.ServiceID {
				t.Errorf("global service under %s", k)
			}
			global = ms
			continue
		}
		fw := ""
		if ms.Framework != nil {
			fw = ms.Framework.Name + " " + ms.Framework.Version
		}
		frameworks[fw]++
		if _, err := strconv.ParseInt(ms.Timestamp, 10, 64); err != nil || ms.ModTimestamp != ms.Timestamp {
			t.Errorf("service %s: timestamps %q %q", k, ms.Timestamp, ms.ModTimestamp)
		}
		if ms.Status != StatusUp || ms.Level == "" || ms.AppID == "" || ms.Version == "" {
			t.Errorf("service %s: %+v", k, ms)
		}
	}
	if global.Environment != GlobalEnvironment || global.ServiceID == "" {
		t.Errorf("global service: %+v", global)
	}
	for _, fw := range []string{"servicecomb-java-chassis 2.8.0", "servicecomb-java-chassis 2.7.5",
		"go-chassis 2.7.0", "spring-cloud-huawei 1.11.0", ""} {
		if frameworks[fw] == 0 {
			t.Errorf("no service with framework %q: %v", fw, frameworks)
		}
	}
	// 108 services: about 11 without framework.
	if n := frameworks[""]; n < 3 || n > 25 {
		t.Errorf("%d of 108 services without framework, want about 10%%", n)
	}

	for k, inst := range r.instances {
		s := strings.Split(k, "/")
		key := l.InstanceKey(s[0], s[1], s[2], s[3])
		raw := r.raw[key]
		if raw == nil {
			t.Fatalf("instance %s: no raw value under %s", k, key)
		}
		for _, field := range []string{"instanceId", "serviceId", "endpoints", "hostName", "status",
			"healthCheck", "timestamp", "modTimestamp", "version"} {
			if _, ok := raw[field]; !ok {
				t.Errorf("instance %s: no %s in %v", k, field, raw)
			}
		}
		hc := inst.HealthCheck
		if hc == nil || hc.Mode != "push" || hc.Times != 3 || hc.Interval*(hc.Times+1) > cfg.leaseSeconds() {
			t.Errorf("instance %s: health check %+v", k, hc)
		}
		if len(inst.Endpoints) != 1 || !strings.HasPrefix(inst.Endpoints[0], "rest://") || inst.HostName == "" {
			t.Errorf("instance %s: %+v", k, inst)
		}
	}

	// An index key resolves to its service.
	for k, ms := range r.services {
		s := strings.Split(k, "/")
		idx := strings.TrimPrefix(l.ServiceIndexKey(s[0], s[1], ms.Environment, ms.AppID, ms.ServiceName, ms.Version), l.ServiceIndexesPrefix())
		if r.indexes[idx] != ms.ServiceID {
			t.Errorf("index %s: %q, want %s", idx, r.indexes[idx], ms.ServiceID)
		}
	}
}

func TestLoadIsReproducible(t *testing.T) {
	c := startEtcd(t)
	ids := func(prefix string, seed int64) (services, instances []string) {
		cfg := smallConfig(prefix)
		cfg.Seed = seed
		if _, err := Load(testContext(t, time.Minute), c, cfg); err != nil {
			t.Fatal(err)
		}
		r := readRegistry(t, c, Layout{Prefix: prefix})
		for k := range r.services {
			services = append(services, k)
		}
		for k, inst := range r.instances {
			instances = append(instances, k+" "+inst.Status+" "+inst.HostName+" "+inst.Endpoints[0])
		}
		slices.Sort(services)
		slices.Sort(instances)
		return services, instances
	}
	s1, i1 := ids("/a", 42)
	s2, i2 := ids("/b", 42)
	s3, _ := ids("/c", 43)
	if !slices.Equal(s1, s2) || !slices.Equal(i1, i2) {
		t.Errorf("same seed, different registries:\n%v\n%v", s1, s2)
	}
	if slices.Equal(s1, s3) {
		t.Error("different seeds, same service ids")
	}
}

func TestLoadResetDeletesThePrefix(t *testing.T) {
	c := startEtcd(t)
	ctx := testContext(t, time.Minute)
	if _, err := c.Put(ctx, "/reset/ms/files/old/old/stale", "{}"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "/resetother", "kept"); err != nil {
		t.Fatal(err)
	}
	cfg := smallConfig("/reset")
	cfg.Reset = true
	st, err := Load(ctx, c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := readRegistry(t, c, Layout{Prefix: "/reset"})
	if r.keys != st.Keys {
		t.Errorf("%d keys, want %d", r.keys, st.Keys)
	}
	if resp, err := c.Get(ctx, "/resetother"); err != nil || len(resp.Kvs) != 1 {
		t.Errorf("a key outside the prefix was deleted: %v %v", resp, err)
	}
}

// Load alone keeps nothing alive: every instance key goes with a DELETE
// once its lease expires; services, projects and domains stay.
func TestLeasesExpireWithoutKeepAlive(t *testing.T) {
	c := startEtcd(t)
	ctx := testContext(t, time.Minute)
	cfg := smallConfig("/expire")
	cfg.LeaseTTL = 2 * time.Second
	cfg.InstancesPerLease = 2

	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	l := Layout{Prefix: cfg.Prefix}
	// Watch from a revision before the load: a watch registers
	// asynchronously and would miss what happens meanwhile.
	resp, err := c.Get(ctx, "/expire/none")
	if err != nil {
		t.Fatal(err)
	}
	watch := c.Watch(wctx, l.InstancesPrefix(), clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
	st, err := Load(ctx, c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	puts, deletes := map[string]bool{}, map[string]bool{}
	deadline := time.After(30 * time.Second)
	for len(puts) < st.Instances || len(deletes) < st.Instances {
		select {
		case wr := <-watch:
			if err := wr.Err(); err != nil {
				t.Fatal(err)
			}
			for _, ev := range wr.Events {
				if ev.Type == mvccpb.PUT {
					puts[string(ev.Kv.Key)] = true
				} else {
					deletes[string(ev.Kv.Key)] = true
				}
			}
		case <-deadline:
			t.Fatalf("%d puts and %d deletes of %d instances", len(puts), len(deletes), st.Instances)
		}
	}
	if !reflect.DeepEqual(puts, deletes) {
		t.Error("deleted keys differ from the written ones")
	}
	r := readRegistry(t, c, l)
	if len(r.instances) != 0 || len(r.leaseKeys) != 0 || len(r.services) != st.Services || len(r.domains) != st.Domains {
		t.Errorf("after expiry: %d instances, %d lease keys, %d services, %d domains",
			len(r.instances), len(r.leaseKeys), len(r.services), len(r.domains))
	}
}
