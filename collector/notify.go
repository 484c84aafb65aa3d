package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/servicecomb/servicecomb_exporter/notify"
)

// BusStats is what the notify collector reads: notify.Bus.
type BusStats interface {
	Stats() []notify.TypeStats
}

func notifyDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "notify", name), help, []string{"type"}, nil)
}

var (
	notifyQueueLengthDesc   = notifyDesc("queue_length", "Events waiting in the type's queue.")
	notifyQueueCapacityDesc = notifyDesc("queue_capacity", "Capacity of the type's queue.")
	notifyPublishedDesc     = notifyDesc("events_published_total", "Events accepted into the type's queue.")
	notifyDroppedDesc       = notifyDesc("events_dropped_total", "Events dropped because the type's queue stayed full.")
	notifySubscribersDesc   = notifyDesc("subscribers", "Subscribers of the type.")
	notifyRemovedDesc       = notifyDesc("subscribers_removed_total", "Subscribers removed from the type because they failed.")
)

// NotifyCollector exposes the notify bus.
type NotifyCollector struct {
	bus BusStats
}

// NewNotifyCollector returns a collector reading bus.
func NewNotifyCollector(bus BusStats) *NotifyCollector {
	return &NotifyCollector{bus: bus}
}

func (c *NotifyCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{notifyQueueLengthDesc, notifyQueueCapacityDesc, notifyPublishedDesc,
		notifyDroppedDesc, notifySubscribersDesc, notifyRemovedDesc} {
		ch <- d
	}
}

func (c *NotifyCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.bus.Stats() {
		ch <- prometheus.MustNewConstMetric(notifyQueueLengthDesc, prometheus.GaugeValue, float64(s.QueueLength), s.Name)
		ch <- prometheus.MustNewConstMetric(notifyQueueCapacityDesc, prometheus.GaugeValue, float64(s.QueueCapacity), s.Name)
		ch <- prometheus.MustNewConstMetric(notifyPublishedDesc, prometheus.CounterValue, float64(s.Published), s.Name)
		ch <- prometheus.MustNewConstMetric(notifyDroppedDesc, prometheus.CounterValue, float64(s.Dropped), s.Name)
		ch <- prometheus.MustNewConstMetric(notifySubscribersDesc, prometheus.GaugeValue, float64(s.Subscribers), s.Name)
		ch <- prometheus.MustNewConstMetric(notifyRemovedDesc, prometheus.CounterValue, float64(s.SubscribersRemoved), s.Name)
	}
}
