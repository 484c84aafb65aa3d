package servicecenter

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/servicecomb/servicecomb_exporter/config"
	"github.com/servicecomb/servicecomb_exporter/registry"
)

// entryDP returns the domain and project of a dump entry's key.
func entryDP(t *testing.T, entry string) registry.DomainProject {
	t.Helper()
	var e struct{ Key string }
	mustUnmarshal(t, []byte(entry), &e)
	k, err := registry.NewLayout(config.DefaultEtcdPrefix).Parse([]byte(e.Key))
	if err != nil {
		t.Fatal(err)
	}
	return registry.DomainProject{Domain: k.Domain, Project: k.Project}
}

func dumpBody(services, instances []string) string {
	return `{"cache":{"services":[` + strings.Join(services, ",") + `],"instances":[` + strings.Join(instances, ",") + `]}}`
}

// TestChurnBetweenPolls: registrations and deregistrations are the
// difference between two successful polls of the recorded registry and
// variants of it; the first poll and a failed one count nothing, and a
// status change is no registration.
func TestChurnBetweenPolls(t *testing.T) {
	services, instances := steadyEntries(t)
	gone := []string{instances[0], instances[len(instances)-1]} // two instances that go away
	kept := instances[1 : len(instances)-1]
	added := strings.Replace(instances[3], `"key":"`, `"key":"`+"", 1)
	added = strings.Replace(added, `/`+mustKeyLast(t, instances[3])+`"`, `/a-new-instance"`, 1)
	if added == instances[3] {
		t.Fatal("could not derive a new instance")
	}
	type want map[registry.DomainProject]uint64
	plus := func(entries ...string) want {
		w := want{}
		for _, e := range entries {
			w[entryDP(t, e)]++
		}
		return w
	}
	steps := []struct {
		name       string
		dump       http.HandlerFunc
		reg, dereg want // cumulative
		pollFails  bool
	}{
		{name: "first poll: the registry as found counts nothing", dump: body(dumpBody(services, instances)), reg: want{}, dereg: want{}},
		{name: "statuses changed, same instances", dump: loadFixture(t, "06-every-status/dump_cache").handler(), reg: want{}, dereg: want{}},
		{name: "two instances gone", dump: body(dumpBody(services, kept)), reg: want{}, dereg: plus(gone...)},
		{name: "a failed poll counts nothing", dump: status(http.StatusInternalServerError, `{"errorCode":"500003"}`), pollFails: true,
			reg: want{}, dereg: plus(gone...)},
		{name: "they come back with a new one", dump: body(dumpBody(services, append(append([]string{}, instances...), added))),
			reg: plus(append(gone, added)...), dereg: plus(gone...)},
		{name: "the same again", dump: body(dumpBody(services, append(append([]string{}, instances...), added))),
			reg: plus(append(gone, added)...), dereg: plus(gone...)},
		{name: "empty registry", dump: body(dumpBody(services, nil)),
			reg: plus(append(gone, added)...), dereg: plus(append(append(gone, added), instances...)...)},
	}
	fake := newFakeSC(t)
	s, _ := newSource(t, Options{Config: scConfig(fake.URL())})
	for _, st := range steps {
		fake.set(pathDump, st.dump)
		err := s.pollOnce(context.Background())
		if (err != nil) != st.pollFails {
			t.Fatalf("%s: poll error %v", st.name, err)
		}
		got := s.Snapshot().Churn
		if fmt.Sprint(got.Registrations) != fmt.Sprint(map[registry.DomainProject]uint64(st.reg)) ||
			fmt.Sprint(got.Deregistrations) != fmt.Sprint(map[registry.DomainProject]uint64(st.dereg)) {
			t.Errorf("%s: +%v -%v, want +%v -%v", st.name, got.Registrations, got.Deregistrations, st.reg, st.dereg)
		}
	}
}

func mustKeyLast(t *testing.T, entry string) string {
	t.Helper()
	var e struct{ Key string }
	mustUnmarshal(t, []byte(entry), &e)
	return e.Key[strings.LastIndexByte(e.Key, '/')+1:]
}

func body(b string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		_, _ = w.Write([]byte(b))
	}
}

// TestDumpSchemaSummaries: the dump's "summaries" (Service Center's schema
// summary cache, left out of the recording because it registered no
// schema) are counted by key per domain and project; a bad key is a decode
// error of kind schema.
func TestDumpSchemaSummaries(t *testing.T) {
	services, instances := steadyEntries(t)
	summaries := []string{
		`{"key":"/cse-sr/ms/schema-sum/default/default/1c30ee2de162f00f03a86d15ba159b501d0ffa59/order.api","rev":40,"value":"c0ffee","cluster":"default"}`,
		`{"key":"/cse-sr/ms/schema-sum/default/default/1c30ee2de162f00f03a86d15ba159b501d0ffa59/admin.api","rev":41,"value":"beef","cluster":"default"}`,
		`{"key":"/cse-sr/ms/schema-sum/tenant-a/proj-x/3723105e60fd3c044c6812f857132d8078ab0654/search.api","rev":42,"value":"f00d","cluster":"default"}`,
		`{"key":"/cse-sr/ms/schema-sum/tenant-a/proj-x/no-schema-id","rev":43,"value":"x","cluster":"default"}`,
	}
	doc := `{"cache":{"services":[` + strings.Join(services, ",") + `],"summaries":[` + strings.Join(summaries, ",") +
		`],"instances":[` + strings.Join(instances, ",") + `]}}`
	if !json.Valid([]byte(doc)) {
		t.Fatal("test dump is not JSON")
	}
	var decode [registry.NumKinds]uint64
	state, err := parseDump(strings.NewReader(doc), registry.NewLayout(config.DefaultEtcdPrefix), registry.DefaultRules(),
		func(k registry.Kind, _ []byte, _ error) { decode[k]++ })
	if err != nil {
		t.Fatal(err)
	}
	c := state.Counts()
	if fmt.Sprint(c.Schemas) != "map[{default default}:2 {tenant-a proj-x}:1]" {
		t.Errorf("schemas %v", c.Schemas)
	}
	if decode[registry.KindSchema] != 1 {
		t.Errorf("%d schema decode errors, want 1 (the key with too few segments)", decode[registry.KindSchema])
	}
	plain, err := parseDump(strings.NewReader(dumpBody(services, instances)), registry.NewLayout(config.DefaultEtcdPrefix), registry.DefaultRules(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !countsEqual(state.Counts(), withSchemas(plain.Counts(), c.Schemas)) {
		t.Errorf("summaries changed other counts:\n%+v\n%+v", state.Counts(), plain.Counts())
	}
}

func withSchemas(c registry.Counts, schemas map[registry.DomainProject]int64) registry.Counts {
	c.Schemas = schemas
	return c
}

// TestRecordedServiceCenterReplicas: the 03-steady dump holds Service
// Center's service with two UP instances (the replica before and after its
// restart, the old lease not yet expired), no orphan and no schema.
func TestRecordedServiceCenterReplicas(t *testing.T) {
	state, err := parseDump(strings.NewReader(string(loadFixture(t, "03-steady/dump_cache").body)),
		registry.NewLayout(config.DefaultEtcdPrefix), registry.DefaultRules(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := state.Counts()
	if want := (registry.ServiceCenterCounts{Services: 1, Instances: [registry.NumStatuses]int64{2}}); c.ServiceCenter != want {
		t.Errorf("Service Center %+v, want %+v", c.ServiceCenter, want)
	}
	if len(c.Orphans) != 0 || len(c.Schemas) != 0 {
		t.Errorf("orphans %v schemas %v, want none", c.Orphans, c.Schemas)
	}
}
