package collector

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/servicecomb/servicecomb_exporter/registry"
)

// BenchmarkServiceScrape gathers the per-service series of 100,000
// services (100,000 info and 100,000 UP series) through a registry: the
// collector building them at scrape time, against client_golang GaugeVecs
// holding the same series (the baseline: what keeping them as metrics would
// cost per scrape). go test -run '^$' -bench ServiceScrape -benchtime 5x -benchmem ./collector
func BenchmarkServiceScrape(b *testing.B) {
	const n = 100000
	services := make([]registry.ServiceCount, n)
	for i := range services {
		services[i] = svc(fmt.Sprintf("d%d", i%1000), "default", "app", fmt.Sprintf("svc-%06d", i), fmt.Sprintf("%040x", i), int32(i%3))
	}
	b.Run("collector", func(b *testing.B) {
		reg := prometheus.NewRegistry()
		reg.MustRegister(NewRegistryCollector(fakeSnapshots{{Source: "main", Synced: true, Services: services}}, nil))
		gatherN(b, reg, 2*n)
	})
	b.Run("gaugevec", func(b *testing.B) {
		reg := prometheus.NewRegistry()
		info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "servicecomb_service_info", Help: "h"},
			[]string{"source", "domain", "project", "environment", "app", "service", "version", "service_id", "framework", "framework_version", "level"})
		inst := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "servicecomb_service_instances", Help: "h"},
			[]string{"source", "domain", "project", "environment", "app", "service", "version", "status"})
		reg.MustRegister(info, inst)
		for _, c := range services {
			i := c.Info
			info.WithLabelValues("main", i.Domain, i.Project, i.Environment, i.App, i.Service, i.Version, i.ServiceID, i.Framework, i.FrameworkVersion, i.Level).Set(1)
			inst.WithLabelValues("main", i.Domain, i.Project, i.Environment, i.App, i.Service, i.Version, "UP").Set(float64(c.Instances[0]))
		}
		gatherN(b, reg, 2*n)
	})
}

func gatherN(b *testing.B, reg *prometheus.Registry, want int) {
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		mfs, err := reg.Gather()
		if err != nil {
			b.Fatal(err)
		}
		got := 0
		for _, mf := range mfs {
			if name := mf.GetName(); name == "servicecomb_service_info" || name == "servicecomb_service_instances" {
				got += len(mf.Metric)
			}
		}
		if got != want {
			b.Fatalf("gathered %d series, want %d", got, want)
		}
	}
}
