package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/servicecomb/servicecomb_exporter/config/reload"
	"github.com/servicecomb/servicecomb_exporter/internal/metricns"
)

// ReloadStatuser is what the reload collector reads: reload.Holder, whose
// one record of load results the status page reads too.
type ReloadStatuser interface {
	Status() reload.Status
}

var (
	reloadSuccessfulDesc = prometheus.NewDesc(
		prometheus.BuildFQName(metricns.Exporter, "config", "last_reload_successful"),
		"Whether the last configuration load or reload succeeded (1) or failed (0).",
		nil, nil)
	reloadSuccessTimeDesc = prometheus.NewDesc(
		prometheus.BuildFQName(metricns.Exporter, "config", "last_reload_success_timestamp_seconds"),
		"Unix time of the last successful configuration load or reload.",
		nil, nil)
	reloadsDesc = prometheus.NewDesc(
		prometheus.BuildFQName(metricns.Exporter, "config", "reloads_total"),
		"Configuration loads and reloads, by result (success or failure).",
		[]string{"result"}, nil)
)

// ReloadCollector exposes the record of configuration loads.
type ReloadCollector struct {
	holder ReloadStatuser
}

// NewReloadCollector returns a collector reading holder.
func NewReloadCollector(holder ReloadStatuser) *ReloadCollector {
	return &ReloadCollector{holder: holder}
}

func (c *ReloadCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- reloadSuccessfulDesc
	ch <- reloadSuccessTimeDesc
	ch <- reloadsDesc
}

func (c *ReloadCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.holder.Status()
	successful, lastSuccess := 0.0, 0.0
	if s.Successful {
		successful = 1
	}
	if !s.LastSuccess.IsZero() {
		lastSuccess = float64(s.LastSuccess.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(reloadSuccessfulDesc, prometheus.GaugeValue, successful)
	ch <- prometheus.MustNewConstMetric(reloadSuccessTimeDesc, prometheus.GaugeValue, lastSuccess)
	ch <- prometheus.MustNewConstMetric(reloadsDesc, prometheus.CounterValue, float64(s.Successes), "success")
	ch <- prometheus.MustNewConstMetric(reloadsDesc, prometheus.CounterValue, float64(s.Failures), "failure")
}
