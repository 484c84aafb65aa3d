package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/servicecomb/servicecomb_exporter/registry"
)

// ServiceCenterEndpoints is what the Service Center collector reads:
// source.Manager.
type ServiceCenterEndpoints interface {
	ServiceCenterEndpoints() []registry.EndpointStatus
}

var (
	serviceCenterHealthyDesc = prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "service_center", "healthy"),
		"Whether a Service Center endpoint's own health check passes (1) or not (0, also when unreachable).",
		[]string{"endpoint"}, nil)
	serviceCenterInfoDesc = prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "service_center", "info"),
		"Version of a Service Center endpoint, from its version API; always 1.",
		[]string{"endpoint", "version", "api_version"}, nil)
	serviceCenterErrorsDesc = prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "service_center", "request_errors_total"),
		"Failed requests to a Service Center endpoint: unreachable, timeout, 5xx, malformed or truncated body.",
		[]string{"endpoint"}, nil)
)

// ServiceCenterCollector exposes the endpoints of Service Center sources.
type ServiceCenterCollector struct {
	endpoints ServiceCenterEndpoints
}

// NewServiceCenterCollector returns a collector reading endpoints.
func NewServiceCenterCollector(endpoints ServiceCenterEndpoints) *ServiceCenterCollector {
	return &ServiceCenterCollector{endpoints: endpoints}
}

func (c *ServiceCenterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- serviceCenterHealthyDesc
	ch <- serviceCenterInfoDesc
	ch <- serviceCenterErrorsDesc
}

func (c *ServiceCenterCollector) Collect(ch chan<- prometheus.Metric) {
	for _, e := range c.endpoints.ServiceCenterEndpoints() {
		healthy := 0.0
		if e.Healthy {
			healthy = 1
		}
		ch <- prometheus.MustNewConstMetric(serviceCenterHealthyDesc, prometheus.GaugeValue, healthy, e.Endpoint)
		ch <- prometheus.MustNewConstMetric(serviceCenterErrorsDesc, prometheus.CounterValue, float64(e.Errors), e.Endpoint)
		if e.Version != "" || e.APIVersion != "" {
			ch <- prometheus.MustNewConstMetric(serviceCenterInfoDesc, prometheus.GaugeValue, 1, e.Endpoint, e.Version, e.APIVersion)
		}
	}
}
