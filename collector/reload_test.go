package collector

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/servicecomb/servicecomb_exporter/config/reload"
)

type fakeReload reload.Status

func (f fakeReload) Status() reload.Status { return reload.Status(f) }

func TestReloadCollector(t *testing.T) {
	const head = `
# HELP servicecomb_exporter_config_last_reload_success_timestamp_seconds Unix time of the last successful configuration load or reload.
# TYPE servicecomb_exporter_config_last_reload_success_timestamp_seconds gauge
# HELP servicecomb_exporter_config_last_reload_successful Whether the last configuration load or reload succeeded (1) or failed (0).
# TYPE servicecomb_exporter_config_last_reload_successful gauge
# HELP servicecomb_exporter_config_reloads_total Configuration loads and reloads, by result (success or failure).
# TYPE servicecomb_exporter_config_reloads_total counter
`
	for _, tt := range []struct {
		name   string
		status reload.Status
		want   string
	}{
		{"before the first load", reload.Status{}, `
servicecomb_exporter_config_last_reload_success_timestamp_seconds 0
servicecomb_exporter_config_last_reload_successful 0
servicecomb_exporter_config_reloads_total{result="failure"} 0
servicecomb_exporter_config_reloads_total{result="success"} 0
`},
		{"a failure after successes", reload.Status{Successful: false, LastSuccess: time.Unix(1700000000, 500000000), Successes: 3, Failures: 1}, `
servicecomb_exporter_config_last_reload_success_timestamp_seconds 1.7000000005e+09
servicecomb_exporter_config_last_reload_successful 0
servicecomb_exporter_config_reloads_total{result="failure"} 1
servicecomb_exporter_config_reloads_total{result="success"} 3
`},
		{"a success", reload.Status{Successful: true, LastSuccess: time.Unix(1700000001, 0), Successes: 1}, `
servicecomb_exporter_config_last_reload_success_timestamp_seconds 1.700000001e+09
servicecomb_exporter_config_last_reload_successful 1
servicecomb_exporter_config_reloads_total{result="failure"} 0
servicecomb_exporter_config_reloads_total{result="success"} 1
`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := testutil.CollectAndCompare(NewReloadCollector(fakeReload(tt.status)), strings.NewReader(head+tt.want)); err != nil {
				t.Error(err)
			}
		})
	}
}

// BenchmarkReloadCollector gathers the configuration metrics as the
// collector builds them, against the baseline of the GaugeFunc and
// CounterFunc metrics package main registered before (same names, types and
// help), in the same run.
func BenchmarkReloadCollector(b *testing.B) {
	h := fakeReload(reload.Status{Successful: true, LastSuccess: time.Now(), Successes: 3, Failures: 1})
	funcs := prometheus.NewRegistry()
	funcs.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "servicecomb_exporter", Name: "config_last_reload_successful",
			Help: "Whether the last configuration load or reload succeeded (1) or failed (0)."},
			func() float64 { return map[bool]float64{true: 1}[h.Status().Successful] }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "servicecomb_exporter", Name: "config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful configuration load or reload."},
			func() float64 { return float64(h.Status().LastSuccess.UnixNano()) / 1e9 }),
	)
	for _, result := range []string{"success", "failure"} {
		funcs.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "servicecomb_exporter", Name: "config_reloads_total",
			Help: "Configuration loads and reloads, by result (success or failure).", ConstLabels: prometheus.Labels{"result": result}},
			func() float64 {
				if result == "success" {
					return float64(h.Status().Successes)
				}
				return float64(h.Status().Failures)
			}))
	}
	coll := prometheus.NewRegistry()
	coll.MustRegister(NewReloadCollector(h))
	for _, bm := range []struct {
		name string
		reg  *prometheus.Registry
	}{{"baseline-funcs", funcs}, {"collector", coll}} {
		b.Run(bm.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := bm.reg.Gather(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
