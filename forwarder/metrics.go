package forwarder

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/servicecomb/servicecomb_exporter/internal/metricns"
)

// metrics are the forwarder's self-metrics, after Prometheus's notifier:
// one series per Alertmanager, deleted when a reload removes it.
type metrics struct {
	sent          *prometheus.CounterVec
	errors        *prometheus.CounterVec
	dropped       *prometheus.CounterVec
	queueLength   *prometheus.GaugeVec
	queueCapacity *prometheus.GaugeVec
	latency       *prometheus.HistogramVec
	alertmanagers prometheus.Gauge
}

func newMetrics() *metrics {
	const ns, sub = metricns.Namespace, "alertmanager"
	label := []string{"alertmanager"}
	return &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "notifications_sent_total",
			Help: "Alerts sent to an Alertmanager, successfully or not."}, label),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "notifications_errors_total",
			Help: "Alerts whose sending to an Alertmanager failed."}, label),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "notifications_dropped_total",
			Help: "Alerts dropped from a full Alertmanager queue (the oldest go first)."}, label),
		queueLength: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "notifications_queue_length",
			Help: "Alerts waiting in an Alertmanager's queue."}, label),
		queueCapacity: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "notifications_queue_capacity",
			Help: "Capacity of an Alertmanager's queue."}, label),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "notifications_latency_seconds",
			Help:    "Latency of sending a batch of alerts to an Alertmanager.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, label),
		alertmanagers: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "alertmanagers",
			Help: "Alertmanagers the exporter sends alerts to."}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.sent, m.errors, m.dropped, m.queueLength, m.queueCapacity, m.latency, m.alertmanagers}
}

func (m *metrics) forget(url string) {
	for _, v := range []interface{ DeleteLabelValues(...string) bool }{m.sent, m.errors, m.dropped, m.queueLength, m.queueCapacity, m.latency} {
		v.DeleteLabelValues(url)
	}
}
