package collector

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/servicecomb/servicecomb_exporter/registry"
)

// BenchmarkServiceScrape writes the per-service series of a registry of
// 100,000 services (BENCH_SERVICES to change it; a third with a DOWN
// instance too: about 233,000 series) as OpenMetrics, the way a scrape
// does, against the baseline of client_golang GaugeVecs holding the same
// series, gathered and encoded. It reports p50 and p99 of the scrape time
// and the bytes written; allocations per scrape are -benchmem's.
//
//	go test -run '^$' -bench ServiceScrape -benchtime 20x -benchmem ./collector
func BenchmarkServiceScrape(b *testing.B) {
	n := 100000
	if v, err := strconv.Atoi(os.Getenv("BENCH_SERVICES")); err == nil && v > 0 {
		n = v
	}
	services := make([]registry.ServiceCount, n)
	for i := range services {
		services[i] = svc(fmt.Sprintf("domain-%04d", i%1000), "default", fmt.Sprintf("app-%02d", i%37),
			fmt.Sprintf("svc-%06d", i), fmt.Sprintf("%040x", i), int32(i%4), int32(i%3))
	}
	b.Run("writer", func(b *testing.B) {
		s := NewServiceSeries(fakeServiceSources{{Source: "main", Synced: true, Services: services}}, nil)
		scrapeN(b, func(w io.Writer) error { return s.WriteFamilies(w, true) })
	})
	b.Run("gaugevec", func(b *testing.B) {
		reg := prometheus.NewRegistry()
		info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: serviceInfoName, Help: serviceInfoHelp},
			[]string{"source", "domain", "project", "environment", "app", "service", "version", "service_id", "framework", "framework_version", "level"})
		inst := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: serviceInstancesName, Help: serviceInstancesHelp},
			[]string{"source", "domain", "project", "environment", "app", "service", "version", "status"})
		reg.MustRegister(info, inst)
		for _, c := range services {
			i := c.Info()
			info.WithLabelValues("main", i.Domain, i.Project, i.Environment, i.App, i.Service, i.Version, i.ServiceID, i.Framework, i.FrameworkVersion, i.Level).Set(1)
			for st, v := range c.Instances {
				if v != 0 || st == 0 {
					inst.WithLabelValues("main", i.Domain, i.Project, i.Environment, i.App, i.Service, i.Version, registry.InstanceStatuses[st]).Set(float64(v))
				}
			}
		}
		scrapeN(b, func(w io.Writer) error {
			mfs, err := reg.Gather()
			if err != nil {
				return err
			}
			enc := expfmt.NewEncoder(w, expfmt.FmtOpenMetrics_1_0_0)
			for _, mf := range mfs {
				if err := enc.Encode(mf); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// countingWriter counts the bytes of a scrape, which goes nowhere.
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func scrapeN(b *testing.B, scrape func(io.Writer) error) {
	var took []time.Duration
	var w countingWriter
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w.n = 0
		start := time.Now()
		if err := scrape(&w); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[(len(took)*99)/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(w.n), "bytes/scrape")
}
