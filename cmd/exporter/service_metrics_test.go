package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/servicecomb/servicecomb_exporter/internal/testutil/registrytest"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/wait"
)

// These tests read the per-service metrics (docs/service-metrics.md) the way
// an operator does, from a scrape of /metrics parsed as exposition text, so
// that they hold whatever writes the series.

// The label values of one series, in a fixed order, joined by "|"; a label
// the exposition leaves out reads as "".
var (
	instanceLabels = []string{"domain", "project", "environment", "app", "service", "version", "status"}
	infoLabels     = []string{"domain", "project", "environment", "app", "service", "version", "service_id", "framework", "framework_version", "level"}
)

// servicesView is what one scrape shows of one source's per-service series.
type servicesView struct {
	instances map[string]float64 // servicecomb_service_instances by instanceLabels
	info      map[string]float64 // servicecomb_service_info by infoLabels
}

func (v servicesView) equal(w servicesView) bool {
	return maps.Equal(v.instances, w.instances) && maps.Equal(v.info, w.info)
}

// diff lists what differs, got against want.
func (v servicesView) diff(want servicesView) string {
	return diffSeries("servicecomb_service_instances", v.instances, want.instances) +
		diffSeries("servicecomb_service_info", v.info, want.info)
}

func diffSeries(name string, got, want map[string]float64) string {
	var lines []string
	for k, w := range want {
		if g, ok := got[k]; !ok {
			lines = append(lines, fmt.Sprintf("  missing %s{%s} %v", name, k, w))
		} else if g != w {
			lines = append(lines, fmt.Sprintf("  wrong   %s{%s} %v, want %v", name, k, g, w))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			lines = append(lines, fmt.Sprintf("  extra   %s{%s} %v", name, k, g))
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n") + "\n"
}

// scrape parses one /metrics answer.
func (e *exporterUnderTest) scrape() map[string]*dto.MetricFamily {
	e.t.Helper()
	status, body := e.get("/metrics", nil)
	if status != 200 {
		e.t.Fatalf("/metrics: %d %.300s", status, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		e.t.Fatalf("parsing /metrics: %v", err)
	}
	return families
}

func labelValue(m *dto.Metric, name string) string {
	for _, p := range m.GetLabel() {
		if p.GetName() == name {
			return p.GetValue()
		}
	}
	return ""
}

// seriesOf returns the series of family name with label source, keyed by
// the values of labels.
func seriesOf(families map[string]*dto.MetricFamily, name, source string, labels []string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range families[name].GetMetric() {
		if labelValue(m, "source") != source {
			continue
		}
		values := make([]string, len(labels))
		for i, l := range labels {
			values[i] = labelValue(m, l)
		}
		out[strings.Join(values, "|")] = value(m)
	}
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	default:
		return m.Untyped.GetValue()
	}
}

// sample returns the value of the series of family name with exactly the
// given labels among its own, and whether there is one.
func sample(families map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	for _, m := range families[name].GetMetric() {
		match := true
		for k, v := range labels {
			match = match && labelValue(m, k) == v
		}
		if match {
			return value(m), true
		}
	}
	return 0, false
}

func servicesOf(families map[string]*dto.MetricFamily, source string) servicesView {
	return servicesView{
		instances: seriesOf(families, "servicecomb_service_instances", source, instanceLabels),
		info:      seriesOf(families, "servicecomb_service_info", source, infoLabels),
	}
}

// expectedServices is the contract applied to the ground truth: for each
// kept service an info series, an instances series for UP (0 when none is
// UP) and one for every other status it has instances in.
func expectedServices(truth []registrytest.ServiceTruth, keep func(registrytest.ServiceTruth) bool) servicesView {
	v := servicesView{instances: map[string]float64{}, info: map[string]float64{}}
	for _, s := range truth {
		if keep != nil && !keep(s) {
			continue
		}
		labels := []string{s.Domain, s.Project, s.Environment, s.App, s.Name, s.Version}
		v.info[strings.Join(append(slices.Clone(labels), s.ID, s.Framework, s.FrameworkVersion, s.Level), "|")] = 1
		v.instances[strings.Join(append(slices.Clone(labels), "UP"), "|")] += 0
		for status, n := range s.Instances {
			v.instances[strings.Join(append(slices.Clone(labels), status), "|")] += float64(n)
		}
	}
	return v
}

// waitForServices waits until source's per-service series are want(), read
// again at every poll (the registry may still change, as leases expire).
func (e *exporterUnderTest) waitForServices(what, source string, want func() servicesView) {
	e.t.Helper()
	var got, expected servicesView
	wait.For(e.t, what, 10*time.Second, func() bool {
		expected = want()
		got = servicesOf(e.scrape(), source)
		return got.equal(expected)
	}, wait.Every(20*time.Millisecond), wait.Detail(func() string { return "per-service series, against the registry:\n" + got.diff(expected) }))
}

// etcdRegistry writes a registry with a plain etcd client, under
// registrytest.Prefix, the way Service Center lays it out.
type etcdRegistry struct {
	t *testing.T
	c *clientv3.Client
}

func (r etcdRegistry) put(key, value string, opts ...clientv3.OpOption) {
	r.t.Helper()
	if _, err := r.c.Put(context.Background(), registrytest.Prefix+key, value, opts...); err != nil {
		r.t.Fatal(err)
	}
}

func (r etcdRegistry) del(key string) {
	r.t.Helper()
	if _, err := r.c.Delete(context.Background(), registrytest.Prefix+key); err != nil {
		r.t.Fatal(err)
	}
}

// service writes a service document (and its domain and project), with
// alias when not empty.
func (r etcdRegistry) service(domain, project, id, app, name, alias string) {
	r.t.Helper()
	r.put("/domains/"+domain, "")
	r.put("/projects/"+domain+"/"+project, "")
	doc := fmt.Sprintf(`{"serviceId":%q,"appId":%q,"serviceName":%q,"version":"1.0.%d","environment":"production","level":"BACK","framework":{"name":"go-chassis","version":"2.7.0"}`,
		id, app, name, len(id)%3)
	if alias != "" {
		doc += fmt.Sprintf(`,"alias":%q`, alias)
	}
	r.put("/ms/files/"+domain+"/"+project+"/"+id, doc+"}")
}

func (r etcdRegistry) instance(domain, project, serviceID, id, status string, lease clientv3.LeaseID) {
	r.t.Helper()
	doc := fmt.Sprintf(`{"instanceId":%q,"serviceId":%q,"status":%q}`, id, serviceID, status)
	if lease == 0 {
		r.put("/inst/files/"+domain+"/"+project+"/"+serviceID+"/"+id, doc)
		return
	}
	r.put("/inst/files/"+domain+"/"+project+"/"+serviceID+"/"+id, doc, clientv3.WithLease(lease))
	r.put("/inst/leases/"+domain+"/"+project+"/"+serviceID+"/"+id, fmt.Sprint(int64(lease)), clientv3.WithLease(lease))
}

func (r etcdRegistry) lease(ttl int64) clientv3.LeaseID {
	r.t.Helper()
	l, err := r.c.Grant(context.Background(), ttl)
	if err != nil {
		r.t.Fatal(err)
	}
	return l.ID
}

// hasService reports whether any per-service series of v names service.
func (v servicesView) hasService(service string) bool {
	for k := range v.instances {
		if strings.Split(k, "|")[4] == service {
			return true
		}
	}
	for k := range v.info {
		if strings.Split(k, "|")[4] == service {
			return true
		}
	}
	return false
}

// TestServiceSeriesEqualEtcd: servicecomb_service_instances and
// servicecomb_service_info of an etcd source equal what a plain read of
// etcd gives, after the first list and after each kind of change the watch
// brings: random changes, status flips, a lease revoked and one that
// expires, a service deleted with its instances left behind (and written
// again), and services that are global or stop or start being so.
func TestServiceSeriesEqualEtcd(t *testing.T) {
	etcdEndpoint, c := startEtcd(t)
	reg := etcdRegistry{t, c}
	w := registrytest.NewWorld(t, c, 11)
	for i := 0; i < 10; i++ {
		w.AddService()
	}
	for i := 0; i < 60; i++ {
		w.RandomOp()
	}
	// An instance whose lease really expires: granted now, never kept
	// alive, so that it runs out while the other steps run.
	expiring := reg.lease(2)
	reg.service("tenant-b", "default", "expiring-1", "mall", "expiring-svc", "")
	reg.instance("tenant-b", "default", "expiring-1", "e1", "UP", expiring)

	cfgFile := filepath.Join(t.TempDir(), "config.yml")
	writeFile(t, cfgFile, fmt.Sprintf("sources:\n  - name: main\n    etcd:\n      endpoints: [%s]\n", etcdEndpoint))
	e := startExporter(t, "--config.file", cfgFile)
	e.waitFor("ready", func() bool { s, _ := e.get("/-/ready", nil); return s == 200 })
	all := func() servicesView { return expectedServices(registrytest.ServicesFromEtcd(t, c), nil) }
	if len(all().info) < 5 {
		t.Fatalf("the test registry has only %d services", len(all().info))
	}
	e.waitForServices("the first list", "main", all)

	for i := 0; i < 40; i++ {
		w.RandomOp()
	}
	e.waitForServices("random changes through the watch", "main", all)

	// Status flips: with no instance UP, the UP series stays, at 0.
	long := reg.lease(300)
	reg.service("tenant-a", "proj-x", "flip-1", "mall", "flip-svc", "")
	for _, id := range []string{"f1", "f2", "f3"} {
		reg.instance("tenant-a", "proj-x", "flip-1", id, "UP", long)
	}
	e.waitForServices("a new service with three instances UP", "main", all)
	reg.instance("tenant-a", "proj-x", "flip-1", "f1", "DOWN", long)
	reg.instance("tenant-a", "proj-x", "flip-1", "f2", "OUTOFSERVICE", long)
	reg.instance("tenant-a", "proj-x", "flip-1", "f3", "STARTING", long)
	flipUp := "tenant-a|proj-x|production|mall|flip-svc|1.0.0|UP"
	if n, ok := all().instances[flipUp]; !ok || n != 0 {
		t.Fatalf("ground truth: %s is %v (present %v), want 0", flipUp, n, ok)
	}
	e.waitForServices("no instance UP any more", "main", all)
	reg.instance("tenant-a", "proj-x", "flip-1", "f1", "UP", long)
	reg.instance("tenant-a", "proj-x", "flip-1", "f2", "TESTING", long)
	e.waitForServices("statuses flipped back", "main", all)

	// A lease revoked: its instances go, as on expiry.
	short := reg.lease(300)
	reg.instance("tenant-a", "proj-x", "flip-1", "f4", "UP", short)
	reg.instance("tenant-a", "proj-x", "flip-1", "f5", "DOWN", short)
	e.waitForServices("two instances more", "main", all)
	if _, err := c.Revoke(context.Background(), short); err != nil {
		t.Fatal(err)
	}
	e.waitForServices("a lease revoked", "main", all)

	// The lease granted before the exporter started runs out.
	wait.For(t, "the instance lease to expire in etcd", 15*time.Second, func() bool {
		resp, err := c.Get(context.Background(), registrytest.Prefix+"/inst/files/tenant-b/default/expiring-1/e1")
		return err == nil && resp.Count == 0
	}, wait.Every(50*time.Millisecond))
	expiredUp := "tenant-b|default|production|mall|expiring-svc|1.0.1|UP"
	if n, ok := all().instances[expiredUp]; !ok || n != 0 {
		t.Fatalf("ground truth: %s is %v (present %v), want 0", expiredUp, n, ok)
	}
	e.waitForServices("an instance lease expired", "main", all)

	// A service deleted with its instances left behind: none of its
	// series stay. Written again, it has them back with its instances.
	reg.service("tenant-b", "proj-x", "gone-1", "shop", "gone-svc", "")
	reg.instance("tenant-b", "proj-x", "gone-1", "g1", "UP", long)
	reg.instance("tenant-b", "proj-x", "gone-1", "g2", "DOWN", long)
	e.waitForServices("a service with two instances", "main", all)
	reg.del("/ms/files/tenant-b/proj-x/gone-1")
	e.waitForServices("the service deleted, its instances left behind", "main", all)
	if v := servicesOf(e.scrape(), "main"); v.hasService("gone-svc") {
		t.Errorf("a deleted service keeps series:\n%v\n%v", v.instances, v.info)
	}
	reg.service("tenant-b", "proj-x", "gone-1", "shop", "gone-svc", "")
	e.waitForServices("the service written again over its instances", "main", all)
	w.DeleteService()
	e.waitForServices("a service deleted with its instances", "main", all)

	// Global services have no series, as the per-(domain, project) counts
	// leave them out; the same names elsewhere are counted.
	reg.service("default", "default", "sc-1", "default", "SERVICECENTER", "")
	reg.service("default", "default", "sc-alias", "default", "registry", "SERVICECENTER")
	reg.service("default", "default", "turns-global", "default", "plain-svc", "")
	reg.service("tenant-a", "default", "sc-elsewhere", "default", "SERVICECENTER", "")
	reg.service("default", "default", "sc-other-app", "mall", "SERVICECENTER", "")
	for _, id := range []string{"sc-1", "sc-alias", "turns-global", "sc-other-app"} {
		reg.instance("default", "default", id, "i-"+id, "UP", long)
	}
	reg.instance("tenant-a", "default", "sc-elsewhere", "i-sc-elsewhere", "UP", long)
	e.waitForServices("global services and look-alikes", "main", all)
	// Services turning global, and back, take their instances with them.
	reg.service("default", "default", "turns-global", "default", "plain-svc", "SERVICECENTER")
	reg.service("default", "default", "sc-alias", "default", "registry", "")
	e.waitForServices("a service turned global and one no longer global", "main", all)
	truth := registrytest.ServicesFromEtcd(t, c)
	for _, s := range truth {
		if s.ID == "sc-1" || s.ID == "turns-global" {
			t.Fatalf("ground truth lists the global service %s", s.ID)
		}
	}

	// With nothing filtered, the per-service series add up to the
	// per-(domain, project) counts, which both leave the same services out.
	counts, _ := registrytest.CountFromEtcd(t, c)
	sums := map[string]float64{}
	for k, n := range servicesOf(e.scrape(), "main").instances {
		l := strings.Split(k, "|")
		sums[l[0]+"|"+l[1]+"|"+l[6]] += n
	}
	perDomain := map[string]float64{}
	for g, n := range counts.Instances {
		perDomain[g.Domain+"|"+g.Project+"|"+g.Status] = float64(n)
	}
	for k, n := range sums {
		if n == 0 {
			delete(sums, k)
		}
	}
	if !maps.Equal(sums, perDomain) {
		t.Errorf("per-service instances by domain, project and status\n%v\nper-(domain, project) counts\n%v", sums, perDomain)
	}
}

// serviceOrder is the order in which max_services keeps services
// (docs/configuration.md): domain, project, app, service, version,
// environment, id.
func serviceOrder(a, b registrytest.ServiceTruth) int {
	return cmp.Or(cmp.Compare(a.Domain, b.Domain), cmp.Compare(a.Project, b.Project), cmp.Compare(a.App, b.App),
		cmp.Compare(a.Name, b.Name), cmp.Compare(a.Version, b.Version), cmp.Compare(a.Environment, b.Environment),
		cmp.Compare(a.ID, b.ID))
}

// TestServiceSeriesFilterAndCapOnReload: registry.per_service changed by
// POST /-/reload selects and caps the per-service series at the next
// scrape, without restarting the source (no new sync) and without touching
// the per-(domain, project) counts; a service moving out of the filter and
// back has its current counts again. Past max_services the first services
// in a stable order keep their series, the rest are counted in
// servicecomb_service_series_dropped and raise ServiceSeriesDropped, logged
// once and cleared when the cap is no longer reached.
func TestServiceSeriesFilterAndCapOnReload(t *testing.T) {
	etcdEndpoint, c := startEtcd(t)
	reg := etcdRegistry{t, c}
	lease := reg.lease(300)
	for _, s := range []struct{ domain, project, id, app, name string }{
		{"tenant-a", "default", "order-a", "mall", "order-svc"},
		{"tenant-a", "default", "pay-a", "mall", "pay-svc"},
		{"tenant-a", "default", "audit-a", "ops", "audit-svc"},
		{"tenant-b", "proj-x", "order-b", "mall", "order-svc"},
		{"tenant-b", "proj-x", "cart-b", "shop", "cart-svc"},
		{"default", "default", "sc", "default", "SERVICECENTER"},
	} {
		reg.service(s.domain, s.project, s.id, s.app, s.name, "")
		reg.instance(s.domain, s.project, s.id, s.id+"-1", "UP", lease)
		reg.instance(s.domain, s.project, s.id, s.id+"-2", "DOWN", lease)
	}

	cfgFile := filepath.Join(t.TempDir(), "config.yml")
	config := func(perService string) {
		writeFile(t, cfgFile, fmt.Sprintf("registry:\n  per_service:\n%s\nsources:\n  - name: main\n    etcd:\n      endpoints: [%s]\n",
			perService, etcdEndpoint))
	}
	config("    include:\n      app: [mall]")
	e := startExporter(t, "--config.file", cfgFile, "--web.enable-lifecycle")
	e.waitFor("ready", func() bool { s, _ := e.get("/-/ready", nil); return s == 200 })
	syncs := func() float64 {
		n, _ := sample(e.scrape(), "servicecomb_registry_syncs_total", map[string]string{"source": "main", "result": "success"})
		return n
	}
	firstSyncs := syncs()
	if firstSyncs < 1 {
		t.Fatalf("no successful sync before ready: %v", firstSyncs)
	}
	reload := func(perService string) {
		t.Helper()
		config(perService)
		if status, body := e.request("POST", "/-/reload", nil); status != 200 {
			t.Fatalf("reload: %d %s", status, body)
		}
	}
	filtered := func(keep func(s registrytest.ServiceTruth) bool) func() servicesView {
		return func() servicesView { return expectedServices(registrytest.ServicesFromEtcd(t, c), keep) }
	}
	// The per-(domain, project) counts are never filtered.
	checkPerDomain := func(step string) {
		t.Helper()
		counts, _ := registrytest.CountFromEtcd(t, c)
		families := e.scrape()
		for g, n := range counts.Instances {
			got, ok := sample(families, "servicecomb_registry_instances", map[string]string{"source": "main", "domain": g.Domain, "project": g.Project, "status": g.Status})
			if !ok || got != float64(n) {
				t.Errorf("%s: servicecomb_registry_instances{domain=%q,project=%q,status=%q} %v (present %v), want %d", step, g.Domain, g.Project, g.Status, got, ok, n)
			}
		}
	}

	e.waitForServices("include app mall", "main", filtered(func(s registrytest.ServiceTruth) bool { return s.App == "mall" }))
	checkPerDomain("include app mall")

	reload("    include:\n      app: [mall, 'sh.*']\n    exclude:\n      service: ['pay-.*']")
	e.waitForServices("pay-svc filtered out on reload, cart-svc in", "main", filtered(func(s registrytest.ServiceTruth) bool {
		return (s.App == "mall" || strings.HasPrefix(s.App, "sh")) && !strings.HasPrefix(s.Name, "pay-")
	}))
	checkPerDomain("exclude service pay-.*")
	// Changes while filtered out must show when the service is back.
	reg.instance("tenant-a", "default", "pay-a", "pay-a-2", "UP", lease)
	reg.instance("tenant-a", "default", "pay-a", "pay-a-3", "TESTING", lease)

	reload("    exclude:\n      domain: [tenant-b]\n      project: [nothing]")
	e.waitForServices("pay-svc back, tenant-b out", "main", filtered(func(s registrytest.ServiceTruth) bool { return s.Domain != "tenant-b" }))

	// The cap applies to the services the lists select, in a stable order.
	const max = 3
	candidates := func() []registrytest.ServiceTruth {
		var out []registrytest.ServiceTruth
		for _, s := range registrytest.ServicesFromEtcd(t, c) {
			if s.App != "ops" {
				out = append(out, s)
			}
		}
		slices.SortFunc(out, serviceOrder)
		return out
	}
	firstMax := func() servicesView {
		return expectedServices(candidates()[:max], nil)
	}
	alarmActive := func() (float64, bool) {
		return sample(e.scrape(), "servicecomb_alarm_active", map[string]string{"id": "ServiceSeriesDropped", "source": "main"})
	}
	checkDropped := func(step string) {
		t.Helper()
		want := float64(len(candidates()) - max)
		if n, ok := sample(e.scrape(), "servicecomb_service_series_dropped", map[string]string{"source": "main"}); !ok || n != want {
			t.Errorf("%s: servicecomb_service_series_dropped %v (present %v), want %v", step, n, ok, want)
		}
		if n, ok := alarmActive(); !ok || n != 1 {
			t.Errorf("%s: ServiceSeriesDropped alarm active %v (present %v), want 1", step, n, ok)
		}
	}
	reload(fmt.Sprintf("    max_services: %d\n    exclude:\n      app: [ops]", max))
	e.waitForServices("capped", "main", firstMax)
	checkDropped("capped")
	first := servicesOf(e.scrape(), "main")
	for i := 0; i < 3; i++ {
		if again := servicesOf(e.scrape(), "main"); !again.equal(first) {
			t.Fatalf("scrape %d keeps other services than the first:\n%s", i+2, again.diff(first))
		}
	}
	// A service that sorts last changes nothing but the count; one that
	// sorts first takes the place of the last kept.
	reg.service("tenant-z", "default", "late", "mall", "late-svc", "")
	reg.instance("tenant-z", "default", "late", "late-1", "UP", lease)
	e.waitFor("the new service counted as dropped", func() bool {
		n, _ := sample(e.scrape(), "servicecomb_service_series_dropped", map[string]string{"source": "main"})
		return n == float64(len(candidates())-max)
	})
	if got := servicesOf(e.scrape(), "main"); !got.equal(first) {
		t.Errorf("a service sorting last changed the kept services:\n%s", got.diff(first))
	}
	reg.service("a-first", "default", "early", "mall", "early-svc", "")
	e.waitForServices("a service sorting first kept", "main", firstMax)
	checkDropped("two services more")
	// Logged once (activated) however many scrapes find the cap reached.
	raised := 0
	for _, line := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(line, "id=ServiceSeriesDropped") {
			raised++
		}
	}
	if raised != 1 || !strings.Contains(e.logs.String(), `msg="alarm activated" id=ServiceSeriesDropped`) {
		t.Errorf("ServiceSeriesDropped logged %d times over many scrapes, want once, as activated:\n%s", raised, e.logs.String())
	}

	reload("    max_services: 100")
	e.waitForServices("the cap no longer reached", "main", filtered(nil))
	if n, ok := sample(e.scrape(), "servicecomb_service_series_dropped", map[string]string{"source": "main"}); !ok || n != 0 {
		t.Errorf("servicecomb_service_series_dropped under the cap: %v (present %v), want 0", n, ok)
	}
	if n, _ := alarmActive(); n != 0 {
		t.Errorf("ServiceSeriesDropped still active under the cap")
	}
	if !strings.Contains(e.logs.String(), `msg="alarm cleared" id=ServiceSeriesDropped`) {
		t.Errorf("ServiceSeriesDropped clear not logged:\n%s", e.logs.String())
	}
	checkPerDomain("after the cap")

	// A restarted source counts its syncs from 0 again: the logs tell a
	// restart apart from an unchanged counter.
	if n := syncs(); n != firstSyncs {
		t.Errorf("servicecomb_registry_syncs_total{result=\"success\"} went from %v to %v: a per_service reload restarted the source", firstSyncs, n)
	}
	logs := e.logs.String()
	if started, synced := strings.Count(logs, `msg="registry source configured"`), strings.Count(logs, `msg="registry synced"`); started != 1 || synced != 1 {
		t.Errorf("the source was configured %d times and synced %d times over four per_service reloads, want once each:\n%s", started, synced, logs)
	}

	// Turning the per-service metrics off restarts the source (it keeps no
	// per-service labels then, docs/configuration.md): once it has listed
	// again, no per-service series, the dropped count at 0, the
	// per-(domain, project) counts whole. On again, every service is back.
	reload("    enabled: false")
	e.waitFor("the source listed again", func() bool {
		return strings.Count(e.logs.String(), `msg="registry synced"`) == 2
	})
	e.waitForServices("per-service metrics off", "main", filtered(func(registrytest.ServiceTruth) bool { return false }))
	if n, ok := sample(e.scrape(), "servicecomb_service_series_dropped", map[string]string{"source": "main"}); !ok || n != 0 {
		t.Errorf("servicecomb_service_series_dropped with per-service metrics off: %v (present %v), want 0", n, ok)
	}
	checkPerDomain("per-service metrics off")
	reload("    enabled: true")
	e.waitForServices("per-service metrics on again", "main", filtered(nil))
	checkPerDomain("per-service metrics on again")
}

// putDump writes the services and instances of a Service Center cache dump
// (GET /v4/default/admin/dump) into etcd under prefix, with their domains
// and projects: the registry that Service Center answered from.
func putDump(t *testing.T, c *clientv3.Client, file, prefix string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var dump struct {
		Cache struct {
			Services, Instances []struct {
				Key   string          `json:"key"`
				Value json.RawMessage `json:"value"`
			}
		} `json:"cache"`
	}
	if err := json.Unmarshal(data, &dump); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(dump.Cache.Services) == 0 || len(dump.Cache.Instances) == 0 {
		t.Fatalf("%s: no services or no instances", file)
	}
	put := func(key, value string) {
		if _, err := c.Put(context.Background(), key, value); err != nil {
			t.Fatal(err)
		}
	}
	for _, kv := range append(dump.Cache.Services, dump.Cache.Instances...) {
		rest, ok := strings.CutPrefix(kv.Key, registrytest.Prefix+"/")
		if !ok {
			t.Fatalf("%s: key %s outside %s", file, kv.Key, registrytest.Prefix)
		}
		parts := strings.Split(rest, "/") // ms|inst, files, domain, project, ...
		put(prefix+"/domains/"+parts[2], "")
		put(prefix+"/projects/"+parts[2]+"/"+parts[3], "")
		put(prefix+"/"+rest, string(kv.Value))
	}
}

// TestSourcesAgreeOnServiceSeries: the REST source replaying the answers
// recorded from a real Service Center and the etcd source reading the same
// registry from etcd expose the same per-service series (but for the
// source label), and both equal a plain read of that etcd: for the
// recording (its etcd content as recorded, and as the dump lists it, which
// Service Center gave a little later) and for the recording with every
// instance status.
func TestSourcesAgreeOnServiceSeries(t *testing.T) {
	etcdEndpoint, c := startEtcd(t)
	for key, value := range recordedEtcd(t) {
		if _, err := c.Put(context.Background(), key, string(value)); err != nil {
			t.Fatal(err)
		}
	}
	const everyStatus = "../../source/servicecenter/testdata/06-every-status/dump_cache.json"
	putDump(t, c, steadyDir+"dump_cache.json", "/steady")
	putDump(t, c, everyStatus, "/every")
	steady, every := replayServiceCenter(t), replayServiceCenterDump(t, everyStatus)

	cfgFile := filepath.Join(t.TempDir(), "config.yml")
	writeFile(t, cfgFile, fmt.Sprintf(`sources:
  - name: recorded-etcd
    etcd:
      endpoints: [%[1]s]
  - name: steady-etcd
    etcd:
      endpoints: [%[1]s]
      prefix: /steady
  - name: steady-sc
    servicecenter:
      endpoints: [%[2]s]
      poll_interval: 1h
  - name: every-etcd
    etcd:
      endpoints: [%[1]s]
      prefix: /every
  - name: every-sc
    servicecenter:
      endpoints: [%[3]s]
      poll_interval: 1h
`, etcdEndpoint, steady.URL, every.URL))
	e := startExporter(t, "--config.file", cfgFile)
	e.waitFor("ready", func() bool { s, _ := e.get("/-/ready", nil); return s == 200 })
	families := e.scrape()

	for _, tc := range []struct {
		name, prefix string
		sources      []string
	}{
		{"the recording", "/steady", []string{"steady-sc", "steady-etcd", "recorded-etcd"}},
		{"every status", "/every", []string{"every-sc", "every-etcd"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := expectedServices(registrytest.ServicesUnder(t, c, tc.prefix), nil)
			if len(want.info) < 5 {
				t.Fatalf("only %d services under %s", len(want.info), tc.prefix)
			}
			for _, source := range tc.sources {
				if got := servicesOf(families, source); !got.equal(want) {
					t.Errorf("source %s against the registry in etcd:\n%s", source, got.diff(want))
				}
			}
		})
	}
	// The derived fixture has the statuses the recording lacks.
	statuses := map[string]bool{}
	for k, n := range servicesOf(families, "every-sc").instances {
		if n > 0 {
			statuses[k[strings.LastIndex(k, "|")+1:]] = true
		}
	}
	if len(statuses) != 5 {
		t.Errorf("the every-status fixture shows instances in %d statuses, want 5: %v", len(statuses), statuses)
	}
}
