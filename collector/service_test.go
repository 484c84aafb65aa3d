package collector

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/servicecomb/servicecomb_exporter/alarm"
	"github.com/servicecomb/servicecomb_exporter/config"
	"github.com/servicecomb/servicecomb_exporter/notify"
	"github.com/servicecomb/servicecomb_exporter/registry"
)

func svc(domain, project, app, name, id string, byStatus ...int32) registry.ServiceCount {
	return svcWith(info(domain, project, app, name, id), byStatus...)
}

func info(domain, project, app, name, id string) registry.ServiceInfo {
	return registry.ServiceInfo{Domain: domain, Project: project, Environment: "prod", App: app,
		Service: name, Version: "1.0", ServiceID: id, Framework: "go", FrameworkVersion: "1", Level: "BACK"}
}

func svcWith(info registry.ServiceInfo, byStatus ...int32) registry.ServiceCount {
	var instances [registry.NumStatuses]int32
	copy(instances[:], byStatus)
	return registry.NewServiceCount(info, instances)
}

// fakeServiceSources are fixed per-service snapshots.
type fakeServiceSources []registry.ServiceSnapshot

func (f fakeServiceSources) ServiceSnapshots() []registry.ServiceSnapshot { return f }

// scrapeServices returns the per-service series of one scrape, parsed back
// from the text format, as sorted lines "name{label=value,...} value" (the
// source label left out).
func scrapeServices(t *testing.T, c *ServiceSeries) []string {
	t.Helper()
	var buf bytes.Buffer
	if err := c.WriteFamilies(&buf, false); err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := parser.TextToMetricFamilies(&buf)
	if err != nil {
		t.Fatalf("the exposition does not parse: %v\n%s", err, buf.String())
	}
	var out []string
	for name, mf := range mfs {
		for _, m := range mf.Metric {
			var labels []string
			for _, l := range m.Label {
				if l.GetName() != "source" {
					labels = append(labels, l.GetName()+"="+l.GetValue())
				}
			}
			out = append(out, fmt.Sprintf("%s{%s} %g", name, strings.Join(labels, ","), m.GetGauge().GetValue()))
		}
	}
	slices.Sort(out)
	return out
}

func TestServiceMetrics(t *testing.T) {
	const (
		infoA = "servicecomb_service_info{app=a,domain=d,environment=prod,framework=go,framework_version=1,level=BACK,project=p,service=sa,service_id=1,version=1.0} 1"
		infoB = "servicecomb_service_info{app=b,domain=d,environment=prod,framework=go,framework_version=1,level=BACK,project=p,service=sb,service_id=2,version=1.0} 1"
		upA   = "servicecomb_service_instances{app=a,domain=d,environment=prod,project=p,service=sa,status=UP,version=1.0}"
		downA = "servicecomb_service_instances{app=a,domain=d,environment=prod,project=p,service=sa,status=DOWN,version=1.0}"
		upB   = "servicecomb_service_instances{app=b,domain=d,environment=prod,project=p,service=sb,status=UP,version=1.0}"
	)
	services := []registry.ServiceCount{svc("d", "p", "b", "sb", "2"), svc("d", "p", "a", "sa", "1", 2, 1)}
	for _, tc := range []struct {
		name string
		cfg  config.PerServiceConfig
		want []string
	}{
		{"default: UP always, other statuses while non-zero", config.PerServiceConfig{Enabled: true, MaxServices: 100000},
			[]string{infoA, infoB, downA + " 1", upA + " 2", upB + " 0", "servicecomb_service_series_dropped{} 0"}},
		{"disabled", config.PerServiceConfig{MaxServices: 100000}, []string{"servicecomb_service_series_dropped{} 0"}},
		{"include app", config.PerServiceConfig{Enabled: true, MaxServices: 10, Include: config.ServiceMatchers{App: []string{"b|c"}}},
			[]string{infoB, upB + " 0", "servicecomb_service_series_dropped{} 0"}},
		{"include is anchored", config.PerServiceConfig{Enabled: true, MaxServices: 10, Include: config.ServiceMatchers{Service: []string{"s"}}},
			[]string{"servicecomb_service_series_dropped{} 0"}},
		{"exclude service", config.PerServiceConfig{Enabled: true, MaxServices: 10, Exclude: config.ServiceMatchers{Service: []string{"sb"}}},
			[]string{infoA, downA + " 1", upA + " 2", "servicecomb_service_series_dropped{} 0"}},
		{"exclude wins over include", config.PerServiceConfig{Enabled: true, MaxServices: 10,
			Include: config.ServiceMatchers{Domain: []string{"d"}}, Exclude: config.ServiceMatchers{Project: []string{"p"}}},
			[]string{"servicecomb_service_series_dropped{} 0"}},
		{"max keeps the first by labels", config.PerServiceConfig{Enabled: true, MaxServices: 1},
			[]string{infoA, downA + " 1", upA + " 2", "servicecomb_service_series_dropped{} 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewServiceSeries(fakeServiceSources{{Source: "main", Synced: true, Services: services}}, nil)
			f, err := NewServiceFilter(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			c.SetFilter(f)
			if got := scrapeServices(t, c); !slices.Equal(got, tc.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestServiceLabelsBoundedAndMerged: service labels go through the label
// bounds, and two services whose labels become equal make one series, the
// sum of their instances, rather than a duplicate that fails the scrape.
func TestServiceLabelsBoundedAndMerged(t *testing.T) {
	long := strings.Repeat("x", 300)
	services := []registry.ServiceCount{svc("d", "p", "a", long+"1", "1", 1), svc("d", "p", "a", long+"2", "1", 2)}
	c := NewServiceSeries(fakeServiceSources{{Source: "main", Synced: true, Services: services}}, nil)
	cut, _ := truncateLabel(long)
	want := []string{
		"servicecomb_service_info{app=a,domain=d,environment=prod,framework=go,framework_version=1,level=BACK,project=p,service=" + cut + ",service_id=1,version=1.0} 1",
		"servicecomb_service_instances{app=a,domain=d,environment=prod,project=p,service=" + cut + ",status=UP,version=1.0} 3",
		"servicecomb_service_series_dropped{} 0",
	}
	if got := scrapeServices(t, c); !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// settableSources are per-service snapshots a test changes between
// scrapes.
type settableSources struct{ snaps fakeServiceSources }

func (s *settableSources) ServiceSnapshots() []registry.ServiceSnapshot { return s.snaps }

// TestServiceSeriesDroppedAlarm: the alarm is raised when a source starts
// dropping services, once, not per scrape; it is cleared when the source
// is under the limit again or is gone from the configuration, and kept
// while the source is only relisting.
func TestServiceSeriesDroppedAlarm(t *testing.T) {
	two := fakeServiceSources{{Source: "main", Synced: true, Services: []registry.ServiceCount{svc("d", "p", "a", "s1", "1"), svc("d", "p", "a", "s2", "2")}}}
	for _, tc := range []struct {
		name       string
		then       func(*ServiceSeries, *settableSources)
		wantActive bool
	}{
		{"under the limit again", func(c *ServiceSeries, _ *settableSources) { c.SetFilter(DefaultServiceFilter()) }, false},
		{"source removed", func(_ *ServiceSeries, s *settableSources) { s.snaps = nil }, false},
		{"source relisting", func(_ *ServiceSeries, s *settableSources) {
			s.snaps = fakeServiceSources{{Source: "main"}}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			center, err := alarm.NewCenter(notify.New(nil), nil, alarm.WithQueue(100, 0))
			if err != nil {
				t.Fatal(err)
			}
			defer center.Close()
			sources := &settableSources{snaps: two}
			c := NewServiceSeries(sources, center)
			f, err := NewServiceFilter(config.PerServiceConfig{Enabled: true, MaxServices: 1})
			if err != nil {
				t.Fatal(err)
			}
			c.SetFilter(f)
			scrapeServices(t, c)
			scrapeServices(t, c)
			a, ok := center.Get("main", alarm.ServiceSeriesDropped)
			if !ok || !a.Active() || a.RaiseCount != 1 || !strings.Contains(a.Detail(), "1 services") {
				t.Fatalf("after two scrapes over the limit: %+v, listed %v; want active, raised once, 1 service in the detail", a, ok)
			}
			tc.then(c, sources)
			scrapeServices(t, c)
			if a, _ := center.Get("main", alarm.ServiceSeriesDropped); a.Active() != tc.wantActive {
				t.Fatalf("active %v, want %v: %+v", a.Active(), tc.wantActive, a)
			}
		})
	}
}

// TestServiceExpositionMatchesClientGolang: every line the writer writes,
// in both formats, is the line client_golang writes for the same series
// (label values that need escaping, a cut one, invalid UTF-8 and a second
// source included), so that what Prometheus parses does not depend on who
// wrote it.
func TestServiceExpositionMatchesClientGolang(t *testing.T) {
	oddInfo := info("d\"q", "p\\b", "a\nnl", "sérvice", "1")
	oddInfo.Level = "bad\xffutf8"
	odd := svcWith(oddInfo, 3, 1, 0, 2)
	long := svc("d", "p", "a", strings.Repeat("y", 200), "2")
	sources := fakeServiceSources{
		{Source: "main", Synced: true, Services: []registry.ServiceCount{odd, long, svc("d", "p", "a", "s", "3", 0, 7)}},
		{Source: "other", Synced: true, Services: []registry.ServiceCount{svc("d", "p", "a", "s", "3", 5)}},
		{Source: "unsynced", Services: []registry.ServiceCount{svc("d", "p", "a", "x", "4", 5)}},
	}
	reg := prometheus.NewPedanticRegistry()
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: serviceInfoName, Help: serviceInfoHelp},
		[]string{"source", "domain", "project", "environment", "app", "service", "version", "service_id", "framework", "framework_version", "level"})
	inst := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: serviceInstancesName, Help: serviceInstancesHelp},
		[]string{"source", "domain", "project", "environment", "app", "service", "version", "status"})
	dropped := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: serviceSeriesDroppedName, Help: serviceSeriesDroppedHelp}, []string{"source"})
	reg.MustRegister(info, inst, dropped)
	for _, snap := range sources[:2] {
		dropped.WithLabelValues(snap.Source).Set(0)
		for _, c := range snap.Services {
			i, _ := boundedInfo(c.Info())
			info.WithLabelValues(snap.Source, i.Domain, i.Project, i.Environment, i.App, i.Service, i.Version, i.ServiceID, i.Framework, i.FrameworkVersion, i.Level).Set(1)
			for st, v := range c.Instances {
				if v != 0 || st == 0 {
					inst.WithLabelValues(snap.Source, i.Domain, i.Project, i.Environment, i.App, i.Service, i.Version, registry.InstanceStatuses[st]).Set(float64(v))
				}
			}
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		format      expfmt.Format
		openMetrics bool
	}{{"text", expfmt.FmtText, false}, {"OpenMetrics", expfmt.FmtOpenMetrics_1_0_0, true}} {
		t.Run(tc.name, func(t *testing.T) {
			var want, got bytes.Buffer
			enc := expfmt.NewEncoder(&want, tc.format)
			for _, mf := range mfs {
				if err := enc.Encode(mf); err != nil {
					t.Fatal(err)
				}
			}
			if err := NewServiceSeries(sources, nil).WriteFamilies(&got, tc.openMetrics); err != nil {
				t.Fatal(err)
			}
			if w, g := sortedLines(want.String()), sortedLines(got.String()); !slices.Equal(w, g) {
				t.Errorf("client_golang writes\n%s\nthe writer\n%s", strings.Join(w, "\n"), strings.Join(g, "\n"))
			}
		})
	}
}

func sortedLines(s string) []string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	slices.Sort(lines)
	return lines
}
