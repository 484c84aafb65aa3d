package collector

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/servicecomb/servicecomb_exporter/alarm"
	"github.com/servicecomb/servicecomb_exporter/config"
	"github.com/servicecomb/servicecomb_exporter/notify"
	"github.com/servicecomb/servicecomb_exporter/registry"
)

func svc(domain, project, app, name, id string, byStatus ...int32) registry.ServiceCount {
	c := registry.ServiceCount{Info: &registry.ServiceInfo{Domain: domain, Project: project, Environment: "prod", App: app,
		Service: name, Version: "1.0", ServiceID: id, Framework: "go", FrameworkVersion: "1", Level: "BACK"}}
	copy(c.Instances[:], byStatus)
	return c
}

// scrapeServices returns the per-service series of one scrape as sorted
// lines "name{label=value,...} value" (the source label left out).
func scrapeServices(t *testing.T, c *RegistryCollector) []string {
	t.Helper()
	ch := make(chan prometheus.Metric, 10000)
	c.Collect(ch)
	close(ch)
	var out []string
	for m := range ch {
		desc := m.Desc().String()
		name := ""
		for _, n := range []string{"servicecomb_service_instances", "servicecomb_service_info", "servicecomb_service_series_dropped"} {
			if strings.Contains(desc, `"`+n+`"`) {
				name = n
			}
		}
		if name == "" {
			continue
		}
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		var labels []string
		for _, l := range pb.Label {
			if l.GetName() != "source" {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
		}
		out = append(out, fmt.Sprintf("%s{%s} %g", name, strings.Join(labels, ","), pb.GetGauge().GetValue()))
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
			c := NewRegistryCollector(fakeSnapshots{{Source: "main", Synced: true, Services: services}}, nil)
			f, err := NewServiceFilter(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			c.SetServiceFilter(f)
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
	c := NewRegistryCollector(fakeSnapshots{{Source: "main", Synced: true, Services: services}}, nil)
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

// TestServiceSeriesDroppedAlarm: the alarm is raised when a source starts
// dropping services and cleared when it stops, once each, not per scrape.
func TestServiceSeriesDroppedAlarm(t *testing.T) {
	center, err := alarm.NewCenter(notify.New(nil), nil, alarm.WithQueue(100, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer center.Close()
	snaps := fakeSnapshots{{Source: "main", Synced: true, Services: []registry.ServiceCount{svc("d", "p", "a", "s1", "1"), svc("d", "p", "a", "s2", "2")}}}
	c := NewRegistryCollector(snaps, center)
	f, err := NewServiceFilter(config.PerServiceConfig{Enabled: true, MaxServices: 1})
	if err != nil {
		t.Fatal(err)
	}
	c.SetServiceFilter(f)
	scrapeServices(t, c)
	scrapeServices(t, c)
	a, ok := center.Get("main", alarm.ServiceSeriesDropped)
	if !ok || !a.Active() || a.RaiseCount != 1 || !strings.Contains(a.Detail(), "1 services") {
		t.Fatalf("after two scrapes over the limit: %+v, listed %v; want active, raised once, 1 service in the detail", a, ok)
	}
	c.SetServiceFilter(DefaultServiceFilter())
	scrapeServices(t, c)
	if a, _ := center.Get("main", alarm.ServiceSeriesDropped); a.Active() {
		t.Fatalf("still active under the limit: %+v", a)
	}
}

// TestServiceSeriesFollowChanges: the label pairs kept between scrapes
// follow the State: a service whose labels change (a new ServiceInfo) is
// exposed with the new ones, and one that is gone is not exposed.
func TestServiceSeriesFollowChanges(t *testing.T) {
	snaps := fakeSnapshots{{Source: "main", Synced: true, Services: []registry.ServiceCount{svc("d", "p", "a", "s1", "1", 1), svc("d", "p", "a", "s2", "2")}}}
	c := NewRegistryCollector(snaps, nil)
	scrapeServices(t, c)
	snaps[0].Services = []registry.ServiceCount{svc("d", "p", "a", "s1", "1", 0, 4)}
	snaps[0].Services[0].Info.Version = "2.0"
	want := []string{
		"servicecomb_service_info{app=a,domain=d,environment=prod,framework=go,framework_version=1,level=BACK,project=p,service=s1,service_id=1,version=2.0} 1",
		"servicecomb_service_instances{app=a,domain=d,environment=prod,project=p,service=s1,status=DOWN,version=2.0} 4",
		"servicecomb_service_instances{app=a,domain=d,environment=prod,project=p,service=s1,status=UP,version=2.0} 0",
		"servicecomb_service_series_dropped{} 0",
	}
	if got := scrapeServices(t, c); !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
