package registry

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// gauges renders counts the way Service Center's gauges read:
// service_center_db_service_total by domain, project and framework labels,
// and service_center_db_instance_total summed by domain and project (the
// exporter labels instances by status instead of framework).
func gauges(c Counts) []string {
	var out []string
	for g, n := range c.Services {
		out = append(out, fmt.Sprintf(`service{domain=%q,project=%q,framework=%q,frameworkVersion=%q} %d`,
			g.Domain, g.Project, g.Framework, g.FrameworkVersion, n))
	}
	inst := map[DomainProject]int64{}
	for g, n := range c.Instances {
		inst[DomainProject{g.Domain, g.Project}] += n
	}
	for dp, n := range inst {
		out = append(out, fmt.Sprintf(`instance{domain=%q,project=%q} %d`, dp.Domain, dp.Project, n))
	}
	slices.Sort(out)
	return out
}

// TestServiceCenterRules gives one registry per counting rule and the gauge
// values Service Center reports for it (datasource/etcd/metrics.go,
// datasource.IsGlobal, discovery.ToFrameworkLabel). Every registry is
// applied services first and instances first: the answer must not change.
func TestServiceCenterRules(t *testing.T) {
	l := NewLayout(testPrefix)
	svcKey := func(dp, id string) string { d, p, _ := strings.Cut(dp, "/"); return l.ServiceKey(d, p, id) }
	instKey := func(dp, id, i string) string { d, p, _ := strings.Cut(dp, "/"); return l.InstanceKey(d, p, id, i) }
	up := inst("UP")
	tests := []struct {
		rule   string
		global []string // registry.service.globalVisible
		kvs    [][2]string
		want   []string
	}{
		{
			rule: "SERVICECENTER in default/default with appId default is global: it and its instances are left out",
			kvs:  [][2]string{{svcKey("default/default", "sc"), named("default", "SERVICECENTER", "", "")}, {instKey("default/default", "sc", "1"), up}},
			want: nil,
		},
		{
			rule: "another service of appId default in default/default is counted",
			kvs:  [][2]string{{svcKey("default/default", "o"), named("default", "order", "", "java/2.8.0")}, {instKey("default/default", "o", "1"), up}},
			want: []string{`instance{domain="default",project="default"} 1`,
				`service{domain="default",project="default",framework="java",frameworkVersion="2.8.0"} 1`},
		},
		{
			rule:   "a name listed in globalVisible is global",
			global: []string{"shared"},
			kvs:    [][2]string{{svcKey("default/default", "s"), named("default", "shared", "", "")}, {instKey("default/default", "s", "1"), up}},
			want:   nil,
		},
		{
			rule: "the same name is counted when globalVisible does not list it",
			kvs:  [][2]string{{svcKey("default/default", "s"), named("default", "shared", "", "")}, {instKey("default/default", "s", "1"), up}},
			want: []string{`instance{domain="default",project="default"} 1`,
				`service{domain="default",project="default",framework="UNKNOWN",frameworkVersion="UNKNOWN"} 1`},
		},
		{
			rule:   "an alias in the global list makes the service global",
			global: []string{"shared"},
			kvs:    [][2]string{{svcKey("default/default", "s"), named("default", "other", "shared", "")}},
			want:   nil,
		},
		{
			rule: "a global name with another appId is counted",
			kvs:  [][2]string{{svcKey("default/default", "s"), named("app", "SERVICECENTER", "", "")}},
			want: []string{`service{domain="default",project="default",framework="UNKNOWN",frameworkVersion="UNKNOWN"} 1`},
		},
		{
			rule: "a global name outside default/default is counted",
			kvs:  [][2]string{{svcKey("tenant/default", "s"), named("default", "SERVICECENTER", "", "")}},
			want: []string{`service{domain="tenant",project="default",framework="UNKNOWN",frameworkVersion="UNKNOWN"} 1`},
		},
		{
			rule: "an empty framework name gives UNKNOWN/UNKNOWN even with a version",
			kvs:  [][2]string{{svcKey("t/p", "s"), `{"appId":"a","framework":{"name":"","version":"1.0"}}`}},
			want: []string{`service{domain="t",project="p",framework="UNKNOWN",frameworkVersion="UNKNOWN"} 1`},
		},
		{
			rule: "a framework name without version gives version UNKNOWN",
			kvs:  [][2]string{{svcKey("t/p", "s"), `{"appId":"a","framework":{"name":"go-chassis"}}`}},
			want: []string{`service{domain="t",project="p",framework="go-chassis",frameworkVersion="UNKNOWN"} 1`},
		},
		{
			rule: "instances of a missing service are not counted",
			kvs:  [][2]string{{instKey("t/p", "gone", "1"), up}},
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			for _, order := range []string{"services first", "instances first"} {
				kvs := slices.Clone(tt.kvs)
				if order == "instances first" {
					slices.Reverse(kvs)
				}
				s := NewState(l, Rules{ExcludeGlobal: true, GlobalServices: tt.global}, func(k Kind, key []byte, err error) {
					t.Errorf("decode error %s %s: %v", k, key, err)
				})
				for _, kv := range kvs {
					if _, err := s.Apply(put(kv[0], kv[1])); err != nil {
						t.Fatal(err)
					}
				}
				if got := gauges(s.Counts()); !slices.Equal(got, tt.want) {
					t.Errorf("%s: gauges\n%s\nwant\n%s", order, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
				}
			}
		})
	}
}

// TestWatchOrderMatchesFreshList writes random changes to a model of etcd
// (services changing appId, name and framework, instances written before
// their services, deletes in any order), applies the resulting watch events
// with their previous values, and checks after every step that the counts
// equal those of a fresh list of the same keys, and that both equal a
// direct computation of Service Center's gauges.
func TestWatchOrderMatchesFreshList(t *testing.T) {
	l := NewLayout(testPrefix)
	rules := Rules{ExcludeGlobal: true, GlobalServices: []string{"shared"}, PerService: true}
	projects := []string{"default/default", "t/p"}
	serviceIDs := []string{"s1", "s2", "s3"}
	apps := []string{"default", "app"}
	names := []string{"SERVICECENTER", "shared", "order", ""}
	frameworks := []string{"", "java/2.8.0", "go/", "/1.0"}
	versions := []string{"", "1.0.0", "2.0.0"}
	for seed := uint64(1); seed <= 40; seed++ {
		rng := rand.New(rand.NewPCG(seed, 10))
		kv := map[string]string{}
		watched := NewState(l, rules, nil)
		for step := range 150 {
			dp := projects[rng.IntN(len(projects))]
			d, p, _ := strings.Cut(dp, "/")
			id := serviceIDs[rng.IntN(len(serviceIDs))]
			var key, value string
			switch rng.IntN(3) {
			case 0:
				key = l.ServiceKey(d, p, id)
				value = withFields(named(apps[rng.IntN(len(apps))], names[rng.IntN(len(names))], names[rng.IntN(len(names))],
					frameworks[rng.IntN(len(frameworks))]), map[string]string{
					"version": versions[rng.IntN(len(versions))], "environment": versions[rng.IntN(len(versions))], "level": "BACK"})
			default:
				key = l.InstanceKey(d, p, id, fmt.Sprint(rng.IntN(3)))
				value = inst(InstanceStatuses[rng.IntN(len(InstanceStatuses))])
			}
			prev, had := kv[key]
			e := Event{Type: Put, Key: []byte(key), Value: []byte(value), PrevValue: []byte(prev), HasPrev: had}
			if had && rng.IntN(3) == 0 {
				e = Event{Type: Delete, Key: []byte(key), PrevValue: []byte(prev), HasPrev: true}
				delete(kv, key)
			} else {
				kv[key] = value
			}
			if _, err := watched.Apply(e); err != nil {
				t.Fatalf("seed %d step %d: %v", seed, step, err)
			}
			fresh := NewState(l, rules, nil)
			keys := slices.Sorted(maps.Keys(kv))
			rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
			for _, k := range keys {
				if _, err := fresh.Apply(put(k, kv[k])); err != nil {
					t.Fatal(err)
				}
			}
			got, want, direct := gauges(watched.Counts()), gauges(fresh.Counts()), serviceCenterGauges(kv, rules.GlobalServices)
			if !slices.Equal(got, want) || !slices.Equal(want, direct) {
				t.Fatalf("seed %d step %d after %s %s:\nwatch %v\nlist  %v\nService Center %v", seed, step, e.Type, key, got, want, direct)
			}
			got, want, direct = perService(watched), perService(fresh), directPerService(kv, rules.GlobalServices)
			if !slices.Equal(got, want) || !slices.Equal(want, direct) {
				t.Fatalf("per service, seed %d step %d after %s %s:\nwatch %v\nlist  %v\ndirect %v", seed, step, e.Type, key, got, want, direct)
			}
		}
	}
}

// groundTruthService is one service document as the ground truth reads
// it with encoding/json, sharing no code with State.
type groundTruthService struct {
	domain, project, id string
	framework, version  string // Service Center's labels: UNKNOWN when missing
	doc                 struct {
		AppID, ServiceName, Alias, Version, Environment, Level string
		Framework                                              *struct{ Name, Version string }
	}
	instances []string // the instance documents
}

// eachCountedService calls fn for every service of kv that Service Center
// counts (global ones left out), with its instances.
func eachCountedService(kv map[string]string, globalVisible []string, fn func(groundTruthService)) {
	global := map[string]bool{"SERVICECENTER": true}
	for _, n := range globalVisible {
		global[n] = true
	}
	for key, value := range kv {
		rest, ok := strings.CutPrefix(key, testPrefix+"/ms/files/")
		if !ok {
			continue
		}
		parts := strings.Split(rest, "/")
		g := groundTruthService{domain: parts[0], project: parts[1], id: parts[2], framework: "UNKNOWN", version: "UNKNOWN"}
		if err := json.Unmarshal([]byte(value), &g.doc); err != nil {
			panic(err)
		}
		doc := g.doc
		if g.domain == "default" && g.project == "default" && doc.AppID == "default" &&
			(global[doc.ServiceName] && doc.ServiceName != "" || global[doc.Alias] && doc.Alias != "") {
			continue
		}
		if doc.Framework != nil && doc.Framework.Name != "" {
			g.framework = doc.Framework.Name
			if doc.Framework.Version != "" {
				g.version = doc.Framework.Version
			}
		}
		instPrefix := testPrefix + "/inst/files/" + rest + "/"
		for k, v := range kv {
			if strings.HasPrefix(k, instPrefix) {
				g.instances = append(g.instances, v)
			}
		}
		fn(g)
	}
}

// serviceCenterGauges computes Service Center's gauges from the keys the
// way Service Center does: walk the services, skip the global ones, count
// each one's instances.
func serviceCenterGauges(kv map[string]string, globalVisible []string) []string {
	services, instances := map[string]int64{}, map[string]int64{}
	eachCountedService(kv, globalVisible, func(g groundTruthService) {
		services[fmt.Sprintf(`service{domain=%q,project=%q,framework=%q,frameworkVersion=%q}`, g.domain, g.project, g.framework, g.version)]++
		instances[fmt.Sprintf(`instance{domain=%q,project=%q}`, g.domain, g.project)] += int64(len(g.instances))
	})
	var out []string
	for _, m := range []map[string]int64{services, instances} {
		for k, n := range m {
			if n > 0 {
				out = append(out, fmt.Sprintf("%s %d", k, n))
			}
		}
	}
	slices.Sort(out)
	return out
}

func withFields(doc string, fields map[string]string) string {
	m := map[string]any{}
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		panic(err)
	}
	for k, v := range fields {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// perService formats State's per-service counts, one line per service.
func perService(s *State) []string {
	var out []string
	for _, c := range s.ServiceCounts() {
		out = append(out, fmt.Sprintf("%+v %v", c.Info(), c.Instances))
	}
	slices.Sort(out)
	return out
}

// directPerService computes the per-service values from the keys:
// every counted service, its labels and its instances by status.
func directPerService(kv map[string]string, globalVisible []string) []string {
	var out []string
	eachCountedService(kv, globalVisible, func(g groundTruthService) {
		info := ServiceInfo{Domain: g.domain, Project: g.project, Environment: g.doc.Environment, App: g.doc.AppID,
			Service: g.doc.ServiceName, Version: g.doc.Version, ServiceID: g.id, Framework: g.framework, FrameworkVersion: g.version, Level: g.doc.Level}
		var byStatus [NumStatuses]int32
		for _, v := range g.instances {
			var inst struct{ Status string }
			if err := json.Unmarshal([]byte(v), &inst); err != nil {
				panic(err)
			}
			byStatus[slices.Index(InstanceStatuses, inst.Status)]++
		}
		out = append(out, fmt.Sprintf("%+v %v", info, byStatus))
	})
	slices.Sort(out)
	return out
}

// TestPerServiceRule: with Rules.PerService off, State keeps no
// per-service labels and counts exactly as with it on.
func TestPerServiceRule(t *testing.T) {
	l := NewLayout(testPrefix)
	events := []Event{
		put(l.ServiceKey("d", "p", "s1"), `{"serviceId":"s1","appId":"a","serviceName":"one","version":"1.0","environment":"production","level":"BACK"}`),
		put(l.InstanceKey("d", "p", "s1", "i1"), `{"instanceId":"i1","serviceId":"s1","status":"UP"}`),
		put(l.InstanceKey("d", "p", "s1", "i2"), `{"instanceId":"i2","serviceId":"s1","status":"DOWN"}`),
	}
	for _, tc := range []struct {
		perService bool
		want       []string
	}{
		{true, []string{"d/p a one 1.0 production s1 BACK UP=1 DOWN=1"}},
		{false, nil},
	} {
		t.Run(fmt.Sprintf("per_service=%v", tc.perService), func(t *testing.T) {
			s := NewState(l, Rules{ExcludeGlobal: true, PerService: tc.perService}, nil)
			for _, e := range events {
				if _, err := s.Apply(e); err != nil {
					t.Fatal(err)
				}
			}
			var got []string
			for _, c := range s.ServiceCounts() {
				i := c.Info()
				got = append(got, fmt.Sprintf("%s/%s %s %s %s %s %s %s UP=%d DOWN=%d", i.Domain, i.Project, i.App, i.Service, i.Version,
					i.Environment, i.ServiceID, i.Level, c.Instances[0], c.Instances[1]))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("per-service counts %q, want %q", got, tc.want)
			}
			var n int64
			for _, c := range s.Counts().Instances {
				n += c
			}
			if n != 2 {
				t.Errorf("%d instances counted, want 2", n)
			}
		})
	}
}

// TestNewServiceCountRoundTrip: a service's labels come back from the
// packed form as they went in, a value past maxPackedLabel cut to it and
// the others intact.
func TestNewServiceCountRoundTrip(t *testing.T) {
	long := strings.Repeat("n", maxPackedLabel+100)
	for _, in := range []ServiceInfo{
		{Domain: "d", Project: "p", Environment: "production", App: "app", Service: "svc", Version: "1.0.0", ServiceID: "id", Framework: "go", FrameworkVersion: "1", Level: "BACK"},
		{Domain: "d", Project: "p"},
		{Domain: "d", Project: "p", App: "a", Service: long, Version: "v", ServiceID: "id", Level: "FRONT"},
	} {
		c := NewServiceCount(in, [NumStatuses]int32{1, 2})
		want := in
		want.Service = in.Service[:min(len(in.Service), maxPackedLabel)]
		if got := c.Info(); got != want {
			t.Errorf("labels %+v came back as %+v", want, got)
		}
	}
}
