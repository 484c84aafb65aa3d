package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/servicecomb/servicecomb_exporter/alarm"
)

// AlarmLister is what the alarm collector reads: alarm.Center.
type AlarmLister interface {
	List() []alarm.Alarm
	Transitions() []alarm.TransitionCount
}

var (
	alarmActiveDesc = prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "alarm", "active"),
		"Whether a listed alarm is active (1) or cleared but still listed (0).",
		[]string{"id", "source"}, nil)
	alarmTransitionsDesc = prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "alarm", "transitions_total"),
		"Times an alarm entered a status (ACTIVATED or CLEARED); keeps counting after the list is cleared.",
		[]string{"id", "source", "status"}, nil)
	alarmLastTransitionDesc = prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "alarm", "last_transition_timestamp_seconds"),
		"Unix time of the last status change of a listed alarm.",
		[]string{"id", "source"}, nil)
)

// AlarmCollector exposes the alarm center.
type AlarmCollector struct {
	alarms AlarmLister
}

// NewAlarmCollector returns a collector reading alarms.
func NewAlarmCollector(alarms AlarmLister) *AlarmCollector {
	return &AlarmCollector{alarms: alarms}
}

func (c *AlarmCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- alarmActiveDesc
	ch <- alarmTransitionsDesc
	ch <- alarmLastTransitionDesc
}

func (c *AlarmCollector) Collect(ch chan<- prometheus.Metric) {
	for _, a := range c.alarms.List() {
		active := 0.0
		if a.Active() {
			active = 1
		}
		ch <- prometheus.MustNewConstMetric(alarmActiveDesc, prometheus.GaugeValue, active, string(a.ID), a.Source)
		ch <- prometheus.MustNewConstMetric(alarmLastTransitionDesc, prometheus.GaugeValue,
			float64(a.LastTransition().UnixNano())/1e9, string(a.ID), a.Source)
	}
	for _, t := range c.alarms.Transitions() {
		ch <- prometheus.MustNewConstMetric(alarmTransitionsDesc, prometheus.CounterValue, float64(t.Count),
			string(t.ID), t.Source, string(t.Status))
	}
}
