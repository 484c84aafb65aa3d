package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// agreedFamilies are the registry metrics both sources must give alike for
// one registry.
var agreedFamilies = []string{
	"servicecomb_registry_domains", "servicecomb_registry_projects", "servicecomb_registry_services",
	"servicecomb_registry_instances", "servicecomb_registry_orphan_instances", "servicecomb_registry_schemas",
	"servicecomb_registry_service_usage_ratio", "servicecomb_registry_instance_usage_ratio",
	"servicecomb_registry_instance_registrations_total", "servicecomb_registry_instance_deregistrations_total",
	"servicecomb_service_center_instances", "servicecomb_service_instances",
}

// TestSourcesAgreeOnRecordedRegistry: the registry recorded from a real
// Service Center, written into a real etcd with a plain client, and that
// Service Center's dump of it, served over REST, give the same registry
// metrics. Then the same changes are made to both (an instance
// deregistered, one registered, a service deleted with its instances left
// behind, schema summaries written): the counts, the orphans and the churn
// still agree.
func TestSourcesAgreeOnRecordedRegistry(t *testing.T) {
	etcdEndpoint, c := startEtcd(t)
	kvs := recordedEtcd(t)
	for key, value := range kvs {
		if _, err := c.Put(context.Background(), key, string(value)); err != nil {
			t.Fatal(err)
		}
	}
	recorded, err := os.ReadFile("../../source/etcd/testdata/01-register/dump_cache.json")
	if err != nil {
		t.Fatal(err)
	}
	var dump atomic.Pointer[[]byte]
	dump.Store(&recorded)
	sc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		switch r.URL.Path {
		case "/v4/default/admin/dump":
			_, _ = w.Write(*dump.Load())
		case "/v4/default/admin/alarms":
			_, _ = w.Write([]byte(`{}`))
		case "/v4/default/registry/health", "/v4/default/registry/version":
			body, _ := os.ReadFile(steadyDir + strings.TrimPrefix(r.URL.Path, "/v4/default/registry/") + ".json")
			_, _ = w.Write(body)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(sc.Close)

	cfgFile := filepath.Join(t.TempDir(), "config.yml")
	// Small quotas, so that the ratios are checked against the configuration.
	writeFile(t, cfgFile, fmt.Sprintf("registry:\n  quota:\n    services: 4\n    instances: 8\n"+
		"sources:\n  - name: etcd\n    etcd:\n      endpoints: [%s]\n"+
		"  - name: sc\n    servicecenter:\n      endpoints: [%s]\n      poll_interval: 200ms\n", etcdEndpoint, sc.URL))
	e := startExporter(t, "--config.file", cfgFile)
	e.waitFor("ready", func() bool { s, _ := e.get("/-/ready", nil); return s == 200 })

	bySource := e.registrySeries(t)
	if len(bySource["etcd"]) < 30 || !agree(bySource) {
		t.Fatalf("the sources disagree on the recorded registry (or it is not there):\n%s", diffSources(bySource))
	}
	for _, series := range []string{
		`servicecomb_service_center_instances{status="UP"} 1`,
		`servicecomb_registry_instance_registrations_total{domain="default",project="default"} 0`,
		// search-svc and its two instances, of quotas 4 and 8.
		`servicecomb_registry_service_usage_ratio{domain="tenant-a",project="proj-x"} 0.25`,
		`servicecomb_registry_instance_usage_ratio{domain="tenant-a",project="proj-x"} 0.25`,
	} {
		if !slices.Contains(bySource["etcd"], series) {
			t.Errorf("recorded registry: no %s in\n%s", series, strings.Join(bySource["etcd"], "\n"))
		}
	}

	// The same changes, to etcd and to the dump.
	ids := serviceIDs(t, kvs)
	gone := firstKey(t, kvs, "/cse-sr/inst/files/default/default/"+ids["order-svc"]+"/")
	added := "/cse-sr/inst/files/tenant-a/default/" + ids["user-svc"] + "/added-1"
	addedValue := fmt.Sprintf(`{"instanceId":"added-1","serviceId":%q,"hostName":"h","status":"UP","endpoints":["rest://127.0.0.1:1"]}`, ids["user-svc"])
	orphaned := "/cse-sr/ms/files/tenant-a/default/" + ids["cart-svc"]
	schemas := []string{
		"/cse-sr/ms/schema-sum/default/default/" + ids["order-svc"] + "/order.api",
		"/cse-sr/ms/schema-sum/tenant-a/proj-x/" + ids["search-svc"] + "/search.api",
	}
	ctx := context.Background()
	for _, op := range []func() error{
		func() error { _, err := c.Delete(ctx, gone); return err },
		func() error { _, err := c.Put(ctx, added, addedValue); return err },
		func() error { _, err := c.Delete(ctx, orphaned); return err },
		func() error { _, err := c.Put(ctx, schemas[0], "c0ffee"); return err },
		func() error { _, err := c.Put(ctx, schemas[1], "f00d"); return err },
	} {
		if err := op(); err != nil {
			t.Fatal(err)
		}
	}
	changed := changeDump(t, recorded, gone, added, addedValue, orphaned, schemas)
	dump.Store(&changed)

	e.waitFor("both sources see the changes", func() bool {
		bySource = e.registrySeries(t)
		return slices.Contains(bySource["sc"], `servicecomb_registry_orphan_instances{domain="tenant-a",project="default"} 2`) &&
			slices.Contains(bySource["etcd"], `servicecomb_registry_orphan_instances{domain="tenant-a",project="default"} 2`) &&
			slices.Contains(bySource["sc"], `servicecomb_registry_instance_registrations_total{domain="tenant-a",project="default"} 1`) &&
			slices.Contains(bySource["etcd"], `servicecomb_registry_instance_registrations_total{domain="tenant-a",project="default"} 1`)
	})
	if !agree(bySource) {
		t.Fatalf("the sources disagree after the same changes:\n%s", diffSources(bySource))
	}
	for _, series := range []string{
		`servicecomb_registry_instance_deregistrations_total{domain="default",project="default"} 1`,
		`servicecomb_registry_schemas{domain="tenant-a",project="proj-x"} 1`,
	} {
		if !slices.Contains(bySource["etcd"], series) {
			t.Errorf("after the changes: no %s in\n%s", series, strings.Join(bySource["etcd"], "\n"))
		}
	}
}

// registrySeries scrapes the exporter and returns, per source, the series
// of agreedFamilies without the source label, as sorted lines.
func (e *exporterUnderTest) registrySeries(t *testing.T) map[string][]string {
	t.Helper()
	_, body := e.get("/metrics", nil)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	out := map[string][]string{}
	for _, name := range agreedFamilies {
		f := families[name]
		if f == nil {
			continue
		}
		for _, m := range f.Metric {
			var source string
			var labels []string
			for _, l := range m.Label {
				if l.GetName() == "source" {
					source = l.GetValue()
					continue
				}
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			out[source] = append(out[source], fmt.Sprintf("%s{%s} %v", name, strings.Join(labels, ","), value(m)))
		}
	}
	for _, lines := range out {
		slices.Sort(lines)
	}
	return out
}

func agree(bySource map[string][]string) bool {
	return len(bySource["etcd"]) > 0 && slices.Equal(bySource["etcd"], bySource["sc"])
}

func diffSources(bySource map[string][]string) string {
	var b strings.Builder
	for _, l := range bySource["etcd"] {
		if !slices.Contains(bySource["sc"], l) {
			fmt.Fprintf(&b, "only etcd: %s\n", l)
		}
	}
	for _, l := range bySource["sc"] {
		if !slices.Contains(bySource["etcd"], l) {
			fmt.Fprintf(&b, "only sc:   %s\n", l)
		}
	}
	return b.String()
}

// serviceIDs maps the recorded services' names to their ids.
func serviceIDs(t *testing.T, kvs map[string][]byte) map[string]string {
	t.Helper()
	ids := map[string]string{}
	for key, value := range kvs {
		if !strings.HasPrefix(key, "/cse-sr/ms/files/") {
			continue
		}
		var doc struct{ ServiceID, ServiceName string }
		if err := json.Unmarshal(value, &doc); err != nil {
			t.Fatal(err)
		}
		ids[doc.ServiceName] = doc.ServiceID
	}
	for _, name := range []string{"order-svc", "user-svc", "cart-svc", "search-svc"} {
		if ids[name] == "" {
			t.Fatalf("the recording has no %s: %v", name, ids)
		}
	}
	return ids
}

func firstKey(t *testing.T, kvs map[string][]byte, prefix string) string {
	t.Helper()
	var keys []string
	for key := range kvs {
		if strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
	}
	if len(keys) == 0 {
		t.Fatalf("no recorded key under %s", prefix)
	}
	slices.Sort(keys)
	return keys[0]
}

// changeDump makes the changes of the test to a Service Center dump, in
// Service Center's shape: an instance gone, one added, a service gone with
// its instances kept, schema summaries in "summaries" (pkg/dump/dump.go).
func changeDump(t *testing.T, recorded []byte, gone, added, addedValue, orphaned string, schemas []string) []byte {
	t.Helper()
	var doc struct {
		Cache map[string][]map[string]any `json:"cache"`
	}
	if err := json.Unmarshal(recorded, &doc); err != nil {
		t.Fatal(err)
	}
	without := func(entries []map[string]any, key string) []map[string]any {
		out := slices.DeleteFunc(slices.Clone(entries), func(e map[string]any) bool { return e["key"] == key })
		if len(out) != len(entries)-1 {
			t.Fatalf("%s not in the dump", key)
		}
		return out
	}
	doc.Cache["instances"] = without(doc.Cache["instances"], gone)
	doc.Cache["services"] = without(doc.Cache["services"], orphaned)
	var v map[string]any
	if err := json.Unmarshal([]byte(addedValue), &v); err != nil {
		t.Fatal(err)
	}
	doc.Cache["instances"] = append(doc.Cache["instances"], map[string]any{"key": added, "rev": 100, "cluster": "default", "value": v})
	for i, key := range schemas {
		doc.Cache["summaries"] = append(doc.Cache["summaries"], map[string]any{"key": key, "rev": 101 + i, "cluster": "default", "value": "x"})
	}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
