package registry

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/servicecomb/servicecomb_exporter/internal/testutil/scmetrics"
)

func TestParse(t *testing.T) {
	l := NewLayout("/cse-sr")
	tests := []struct {
		key     string
		want    Key
		wantErr bool
	}{
		{"/cse-sr/domains/default", Key{Kind: KindDomain, Domain: "default"}, false},
		{"/cse-sr/projects/tenant-a/proj-x", Key{Kind: KindProject, Domain: "tenant-a", Project: "proj-x"}, false},
		{"/cse-sr/ms/files/d/p/sid", Key{Kind: KindService, Domain: "d", Project: "p", ServiceID: "sid"}, false},
		{"/cse-sr/inst/files/d/p/sid/iid", Key{Kind: KindInstance, Domain: "d", Project: "p", ServiceID: "sid", InstanceID: "iid"}, false},
		{"/cse-sr/inst/leases/d/p/sid/iid", Key{Kind: KindOther}, false},
		{"/cse-sr/ms/schema-sum/d/p/sid/schema", Key{Kind: KindSchema, Domain: "d", Project: "p", ServiceID: "sid", InstanceID: "schema"}, false},
		{"/cse-sr/ms/schema-sum/d/p/sid", Key{Kind: KindSchema}, true},
		{"/cse-sr/ms/schemas/d/p/sid/schema", Key{Kind: KindOther}, false},
		{"/cse-sr/ms/indexes/default/default//demo-app/gateway/0.1.0", Key{Kind: KindOther}, false},
		{"/cse-sr/sys", Key{Kind: KindOther}, false},
		{"/other/domains/x", Key{Kind: KindOther}, false},
		{"/cse-sr/domains/", Key{Kind: KindDomain}, true},
		{"/cse-sr/domains/a/b", Key{Kind: KindDomain}, true},
		{"/cse-sr/projects/a", Key{Kind: KindProject}, true},
		{"/cse-sr/ms/files/d/p", Key{Kind: KindService}, true},
		{"/cse-sr/ms/files/d//sid", Key{Kind: KindService}, true},
		{"/cse-sr/inst/files/d/p/sid", Key{Kind: KindInstance}, true},
		{"/cse-sr/inst/files/d/p/sid/iid/extra", Key{Kind: KindInstance}, true},
		{"/cse-sr/inst/files/d/p/sid/\xff", Key{Kind: KindInstance}, true},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			got, err := l.Parse([]byte(tt.key))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrBadKey) {
				t.Errorf("error %v is not ErrBadKey", err)
			}
			if got != tt.want {
				t.Errorf("Parse = %+v, want %+v", got, tt.want)
			}
		})
	}
	// The builders produce keys that parse back.
	for _, k := range []string{l.DomainKey("d"), l.ProjectKey("d", "p"), l.ServiceKey("d", "p", "s"), l.InstanceKey("d", "p", "s", "i"), l.SchemaKey("d", "p", "s", "x")} {
		if parsed, err := l.Parse([]byte(k)); err != nil || parsed.Kind == KindOther {
			t.Errorf("built key %s parses as %+v, %v", k, parsed, err)
		}
	}
	if NewLayout(testPrefix).Root() != "/cse-sr/" || NewLayout("/x/").Root() != "/x/" || NewLayout("").Root() != "/" {
		t.Error("Root of a prefix with or without its trailing slash, or of none")
	}
}

// testPrefix is Service Center's root key (config.DefaultEtcdPrefix), which
// the recorded keys below use; registry does not import config.
const testPrefix = "/cse-sr"

func TestDecode(t *testing.T) {
	big := `{"status":"UP","pad":"` + strings.Repeat("x", MaxValueSize) + `"}`
	svcTests := []struct {
		value   string
		want    Service
		wantErr bool
	}{
		{`{"appId":"a","framework":{"name":"go-chassis","version":"2.7.0"}}`, Service{"a", "", "", "", "", "", "go-chassis", "2.7.0"}, false},
		{`{"appId":"a"}`, Service{"a", "", "", "", "", "", Unknown, Unknown}, false},
		{`{"appId":"a","version":"1.2","environment":"prod","level":"BACK"}`, Service{"a", "", "", "1.2", "prod", "BACK", Unknown, Unknown}, false},
		{`{"appId":"a","framework":{"name":"x"}}`, Service{"a", "", "", "", "", "", "x", Unknown}, false},
		{`{"appId":"a","framework":{"name":"","version":"1.0"}}`, Service{"a", "", "", "", "", "", Unknown, Unknown}, false},
		{`{"appId":"a","framework":null}`, Service{"a", "", "", "", "", "", Unknown, Unknown}, false},
		{`{"appId":"default","serviceName":"SERVICECENTER","alias":"sc"}`, Service{"default", "SERVICECENTER", "sc", "", "", "", Unknown, Unknown}, false},
		{``, Service{}, true},
		{`{"appId":`, Service{}, true},
		{`{"appId":5}`, Service{}, true},
		{"{\"appId\":\"\xff\"}", Service{}, true},
		{big, Service{}, true},
	}
	for _, tt := range svcTests {
		got, err := DecodeService([]byte(tt.value))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("DecodeService(%.40q) = %+v, %v; want %+v, error %v", tt.value, got, err, tt.want, tt.wantErr)
		}
	}
	instTests := []struct {
		value   string
		want    string
		wantErr bool
	}{
		{`{"status":"UP"}`, "UP", false},
		{`{"status":"OUTOFSERVICE","hostName":"h"}`, "OUTOFSERVICE", false},
		{`{"status":"up"}`, "", true},
		{`{"hostName":"h"}`, "", true},
		{`[]`, "", true},
		{`{"status":"UP"`, "", true},
		{big, "", true},
	}
	for _, tt := range instTests {
		got, err := DecodeInstance([]byte(tt.value))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("DecodeInstance(%.40q) = %q, %v; want %q, error %v", tt.value, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ErrBadValue) {
			t.Errorf("error %v is not ErrBadValue", err)
		}
	}
}

func svc(app, fw string) string {
	if fw == "" {
		return fmt.Sprintf(`{"appId":%q}`, app)
	}
	name, version, _ := strings.Cut(fw, "/")
	return fmt.Sprintf(`{"appId":%q,"framework":{"name":%q,"version":%q}}`, app, name, version)
}

func inst(status string) string { return fmt.Sprintf(`{"status":%q}`, status) }

// applyAll applies events in order, stopping at the first error.
func applyAll(s *State, events []Event) error {
	for _, e := range events {
		if _, err := s.Apply(e); err != nil {
			return err
		}
	}
	return nil
}

func put(key, value string) Event { return Event{Type: Put, Key: []byte(key), Value: []byte(value)} }
func update(key, prev, value string) Event {
	return Event{Type: Put, Key: []byte(key), Value: []byte(value), PrevValue: []byte(prev), HasPrev: true}
}
func del(key, prev string) Event {
	return Event{Type: Delete, Key: []byte(key), PrevValue: []byte(prev), HasPrev: true}
}

func named(app, name, alias, fw string) string {
	doc := map[string]any{"appId": app, "serviceName": name}
	if alias != "" {
		doc["alias"] = alias
	}
	if fw != "" {
		n, v, _ := strings.Cut(fw, "/")
		doc["framework"] = map[string]string{"name": n, "version": v}
	}
	b, _ := json.Marshal(doc)
	return string(b)
}

func TestStateApply(t *testing.T) {
	l := NewLayout(testPrefix)
	sKey := l.ServiceKey("d", "p", "s1")
	iKey := l.InstanceKey("d", "p", "s1", "i1")
	i2Key := l.InstanceKey("d", "p", "s1", "i2")
	gsKey := l.ServiceKey("default", "default", "sc")
	giKey := l.InstanceKey("default", "default", "sc", "i")
	sc := named("default", "SERVICECENTER", "", "")
	tests := []struct {
		name          string
		rules         Rules
		events        []Event
		wantServices  map[ServiceGroup]int64
		wantInstances map[InstanceGroup]int64
		wantErrors    int
		wantErr       error
	}{
		{
			name:          "create",
			events:        []Event{put(sKey, svc("a", "go-chassis/2.7.0")), put(iKey, inst("UP"))},
			wantServices:  map[ServiceGroup]int64{{"d", "p", "go-chassis", "2.7.0"}: 1},
			wantInstances: map[InstanceGroup]int64{{"d", "p", "UP"}: 1},
		},
		{
			name:          "status change moves the instance",
			events:        []Event{put(sKey, svc("a", "")), put(iKey, inst("UP")), update(iKey, inst("UP"), inst("DOWN"))},
			wantServices:  map[ServiceGroup]int64{{"d", "p", Unknown, Unknown}: 1},
			wantInstances: map[InstanceGroup]int64{{"d", "p", "DOWN"}: 1},
		},
		{
			name:          "delete removes the series",
			events:        []Event{put(sKey, svc("a", "")), put(iKey, inst("UP")), del(iKey, inst("UP")), del(sKey, svc("a", ""))},
			wantServices:  map[ServiceGroup]int64{},
			wantInstances: map[InstanceGroup]int64{},
		},
		{
			name:          "framework upgrade moves the service",
			events:        []Event{put(sKey, svc("a", "x/1")), update(sKey, svc("a", "x/1"), svc("a", "x/2"))},
			wantServices:  map[ServiceGroup]int64{{"d", "p", "x", "2"}: 1},
			wantInstances: map[InstanceGroup]int64{},
		},
		{
			name: "bad values are counted as errors and not counted",
			events: []Event{put(sKey, svc("a", "")), put(iKey, `{"status":`), put(i2Key, inst("UP")),
				put(l.InstanceKey("d", "p", "s1", "i3"), ""), put(l.InstanceKey("d", "p", "s1", "i4"), inst("WEIRD"))},
			wantServices:  map[ServiceGroup]int64{{"d", "p", Unknown, Unknown}: 1},
			wantInstances: map[InstanceGroup]int64{{"d", "p", "UP"}: 1},
			wantErrors:    3,
		},
		{
			name: "a good value turned bad is uncounted, and its delete changes nothing",
			events: []Event{put(sKey, svc("a", "")), put(iKey, inst("UP")), update(iKey, inst("UP"), "garbage"), del(iKey, "garbage"),
				put(i2Key, inst("UP"))},
			wantServices:  map[ServiceGroup]int64{{"d", "p", Unknown, Unknown}: 1},
			wantInstances: map[InstanceGroup]int64{{"d", "p", "UP"}: 1},
			wantErrors:    1,
		},
		{
			name:          "a service turned bad is uncounted with its instances",
			events:        []Event{put(sKey, svc("a", "")), put(iKey, inst("UP")), update(sKey, svc("a", ""), "garbage")},
			wantServices:  map[ServiceGroup]int64{},
			wantInstances: map[InstanceGroup]int64{},
			wantErrors:    1,
		},
		{
			name:          "bad key",
			events:        []Event{put(sKey, svc("a", "")), put("/cse-sr/inst/files/d/p/s1", inst("UP")), put(iKey, inst("UP"))},
			wantServices:  map[ServiceGroup]int64{{"d", "p", Unknown, Unknown}: 1},
			wantInstances: map[InstanceGroup]int64{{"d", "p", "UP"}: 1},
			wantErrors:    1,
		},
		{
			name:  "global services and their instances are left out, in any order",
			rules: DefaultRules(),
			events: []Event{put(giKey, inst("UP")), put(gsKey, sc), put(sKey, svc("default", "")),
				del(giKey, inst("UP")), del(gsKey, sc)},
			wantServices:  map[ServiceGroup]int64{{"d", "p", Unknown, Unknown}: 1},
			wantInstances: map[InstanceGroup]int64{},
		},
		{
			name:          "an ordinary service of app default in default/default is counted",
			rules:         DefaultRules(),
			events:        []Event{put(gsKey, named("default", "order", "", "")), put(giKey, inst("UP"))},
			wantServices:  map[ServiceGroup]int64{{"default", "default", Unknown, Unknown}: 1},
			wantInstances: map[InstanceGroup]int64{{"default", "default", "UP"}: 1},
		},
		{
			name:          "global services kept on request",
			events:        []Event{put(gsKey, sc), put(giKey, inst("UP"))},
			wantServices:  map[ServiceGroup]int64{{"default", "default", Unknown, Unknown}: 1},
			wantInstances: map[InstanceGroup]int64{{"default", "default", "UP"}: 1},
		},
		{
			name:          "instance before its service, then its delete",
			events:        []Event{put(iKey, inst("UP")), put(i2Key, inst("UP")), put(sKey, svc("a", "")), del(iKey, inst("UP"))},
			wantServices:  map[ServiceGroup]int64{{"d", "p", Unknown, Unknown}: 1},
			wantInstances: map[InstanceGroup]int64{{"d", "p", "UP"}: 1},
		},
		{
			name:          "instances of a missing service are not counted",
			events:        []Event{put(sKey, svc("a", "")), put(iKey, inst("UP")), del(sKey, svc("a", ""))},
			wantServices:  map[ServiceGroup]int64{},
			wantInstances: map[InstanceGroup]int64{},
		},
		{
			name:  "a service whose appId changes away from global brings its instances",
			rules: DefaultRules(),
			events: []Event{put(gsKey, sc), put(giKey, inst("UP")),
				update(gsKey, sc, named("app", "SERVICECENTER", "", "")), put(l.InstanceKey("default", "default", "sc", "j"), inst("DOWN"))},
			wantServices:  map[ServiceGroup]int64{{"default", "default", Unknown, Unknown}: 1},
			wantInstances: map[InstanceGroup]int64{{"default", "default", "UP"}: 1, {"default", "default", "DOWN"}: 1},
		},
		{
			name:  "a service that becomes global takes its instances out",
			rules: DefaultRules(),
			events: []Event{put(gsKey, named("app", "SERVICECENTER", "", "")), put(giKey, inst("UP")),
				update(gsKey, named("app", "SERVICECENTER", "", ""), sc)},
			wantServices:  map[ServiceGroup]int64{},
			wantInstances: map[InstanceGroup]int64{},
		},
		{
			name:          "a service delete needs no previous value",
			events:        []Event{put(sKey, svc("a", "")), {Type: Delete, Key: []byte(sKey)}, {Type: Delete, Key: []byte(gsKey)}},
			wantServices:  map[ServiceGroup]int64{},
			wantInstances: map[InstanceGroup]int64{},
		},
		{
			name:    "instance delete without previous value needs a resync",
			events:  []Event{put(iKey, inst("UP")), {Type: Delete, Key: []byte(iKey)}},
			wantErr: ErrInconsistent,
		},
		{
			name:    "delete of something never counted needs a resync",
			events:  []Event{del(iKey, inst("UP"))},
			wantErr: ErrInconsistent,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := 0
			s := NewState(l, tt.rules, func(Kind, []byte, error) { errs++ })
			if err := applyAll(s, tt.events); !errors.Is(err, tt.wantErr) {
				t.Fatalf("Apply error %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			c := s.Counts()
			if fmt.Sprint(c.Services) != fmt.Sprint(tt.wantServices) {
				t.Errorf("services %v, want %v", c.Services, tt.wantServices)
			}
			if fmt.Sprint(c.Instances) != fmt.Sprint(tt.wantInstances) {
				t.Errorf("instances %v, want %v", c.Instances, tt.wantInstances)
			}
			if errs != tt.wantErrors {
				t.Errorf("%d decode errors, want %d", errs, tt.wantErrors)
			}
			if tt.name == "delete removes the series" && len(s.services) != 0 {
				t.Errorf("%d service entries left after everything was deleted", len(s.services))
			}
		})
	}
}

func TestDomainsAndProjects(t *testing.T) {
	l := NewLayout(testPrefix)
	s := NewState(l, DefaultRules(), nil)
	for _, e := range []Event{put(l.DomainKey("a"), ""), put(l.DomainKey("b"), ""), put(l.ProjectKey("a", "p"), ""),
		put(l.ProjectKey("a", "q"), ""), del(l.DomainKey("b"), ""), del(l.ProjectKey("a", "q"), "")} {
		if _, err := s.Apply(e); err != nil {
			t.Fatal(err)
		}
	}
	c := s.Counts()
	if fmt.Sprint(c.Domains) != "map[a:{}]" || fmt.Sprint(c.Projects) != "map[{a p}:{}]" {
		t.Errorf("domains %v projects %v", c.Domains, c.Projects)
	}
}

// TestRecordedRegistryMatchesServiceCenter loads the keys recorded from a
// real Service Center's etcd and checks the counts against that Service
// Center's own gauges for the same registry.
func TestRecordedRegistryMatchesServiceCenter(t *testing.T) {
	s := NewState(NewLayout(testPrefix), DefaultRules(), func(k Kind, key []byte, err error) {
		t.Errorf("decode error on recorded data: %s %s: %v", k, key, err)
	})
	kvs := loadRecordedKVs(t)
	layout := NewLayout(testPrefix)
	for _, kind := range ListOrder { // as a full list reads them
		for _, kv := range kvs {
			if !strings.HasPrefix(string(kv.key), layout.Prefix(kind)) {
				continue
			}
			if _, err := s.Apply(Event{Type: Put, Key: kv.key, Value: kv.value}); err != nil {
				t.Fatal(err)
			}
		}
	}
	c := s.Counts()
	wantServices, wantInstances, wantDomains := scmetrics.Gauges(t, "testdata/service_center_metrics.txt")
	gotServices := map[string]int64{}
	for g, n := range c.Services {
		gotServices[fmt.Sprintf("%s/%s/%s/%s", g.Domain, g.Project, g.Framework, g.FrameworkVersion)] += n
	}
	gotInstances := map[string]int64{}
	for g, n := range c.Instances {
		gotInstances[g.Domain+"/"+g.Project] += n
	}
	if fmt.Sprint(gotServices) != fmt.Sprint(wantServices) {
		t.Errorf("services:\n got %v\nwant %v", gotServices, wantServices)
	}
	if fmt.Sprint(gotInstances) != fmt.Sprint(wantInstances) {
		t.Errorf("instances per domain/project:\n got %v\nwant %v", gotInstances, wantInstances)
	}
	if int64(len(c.Domains)) != wantDomains {
		t.Errorf("domains %d, want %d", len(c.Domains), wantDomains)
	}
	// The recording has no orphan and no schema (its Service Center
	// exports no service_center_db_schema_total), and Service Center's one
	// replica, UP.
	if len(c.Orphans) != 0 || len(c.Schemas) != 0 {
		t.Errorf("orphans %v schemas %v, want none", c.Orphans, c.Schemas)
	}
	if want := (ServiceCenterCounts{Services: 1, Instances: [NumStatuses]int64{1}}); c.ServiceCenter != want {
		t.Errorf("Service Center's instances %+v, want %+v", c.ServiceCenter, want)
	}
}

type recordedKV struct{ key, value []byte }

func loadRecordedKVs(t testing.TB) []recordedKV {
	t.Helper()
	data, err := os.ReadFile("testdata/etcd_cse-sr_full.json")
	if err != nil {
		t.Fatal(err)
	}
	var dump struct {
		KVs []struct{ Key, Value string } `json:"kvs"`
	}
	if err := json.Unmarshal(data, &dump); err != nil {
		t.Fatal(err)
	}
	var out []recordedKV
	for _, kv := range dump.KVs {
		k, err1 := base64.StdEncoding.DecodeString(kv.Key)
		v, err2 := base64.StdEncoding.DecodeString(kv.Value)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		out = append(out, recordedKV{k, v})
	}
	return out
}
