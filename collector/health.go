package collector

import "github.com/prometheus/client_golang/prometheus"

// HealthChecker is what the health collector reads: alarm.HealthChecker.
type HealthChecker interface {
	Healthy() error
}

var healthyDesc = prometheus.NewDesc(
	prometheus.BuildFQName(Namespace, "", "healthy"),
	"Whether the exporter's health check passes (1) or fails (0): it fails while BackendConnectionRefuse is active or a registry source is down.",
	nil, nil)

// HealthCollector exposes the health check as a gauge.
type HealthCollector struct {
	checker HealthChecker
}

// NewHealthCollector returns a collector reading checker.
func NewHealthCollector(checker HealthChecker) *HealthCollector {
	return &HealthCollector{checker: checker}
}

func (c *HealthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- healthyDesc }

func (c *HealthCollector) Collect(ch chan<- prometheus.Metric) {
	v := 1.0
	if c.checker.Healthy() != nil {
		v = 0
	}
	ch <- prometheus.MustNewConstMetric(healthyDesc, prometheus.GaugeValue, v)
}
