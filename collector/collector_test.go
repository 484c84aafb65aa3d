package collector

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/servicecomb/servicecomb_exporter/alarm"
	"github.com/servicecomb/servicecomb_exporter/notify"
)

func newCenter(t *testing.T) (*alarm.Center, *notify.Bus) {
	t.Helper()
	bus := notify.New(nil)
	center, err := alarm.NewCenter(bus, nil, alarm.WithQueue(100, 0))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = bus.Run(ctx); close(done) }()
	t.Cleanup(func() { center.Close(); cancel(); <-done })
	return center, bus
}

func TestAlarmCollector(t *testing.T) {
	center, _ := newCenter(t)
	c := NewAlarmCollector(center)
	const names = "servicecomb_alarm_active servicecomb_alarm_transitions_total"

	if err := center.Raise(alarm.BackendConnectionRefuse, alarm.Detail("down")); err != nil {
		t.Fatal(err)
	}
	if err := center.RaiseFrom("http://sc:30100", alarm.InternalError); err != nil {
		t.Fatal(err)
	}
	center.ClearFrom("http://sc:30100", alarm.InternalError)
	want := `
# HELP servicecomb_alarm_active Whether a listed alarm is active (1) or cleared but still listed (0).
# TYPE servicecomb_alarm_active gauge
servicecomb_alarm_active{id="BackendConnectionRefuse",source=""} 1
servicecomb_alarm_active{id="InternalError",source="http://sc:30100"} 0
# HELP servicecomb_alarm_transitions_total Times an alarm entered a status (ACTIVATED or CLEARED); keeps counting after the list is cleared.
# TYPE servicecomb_alarm_transitions_total counter
servicecomb_alarm_transitions_total{id="BackendConnectionRefuse",source="",status="ACTIVATED"} 1
servicecomb_alarm_transitions_total{id="BackendConnectionRefuse",source="",status="CLEARED"} 0
servicecomb_alarm_transitions_total{id="InternalError",source="",status="ACTIVATED"} 0
servicecomb_alarm_transitions_total{id="InternalError",source="",status="CLEARED"} 0
servicecomb_alarm_transitions_total{id="InternalError",source="http://sc:30100",status="ACTIVATED"} 1
servicecomb_alarm_transitions_total{id="InternalError",source="http://sc:30100",status="CLEARED"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), strings.Fields(names)...); err != nil {
		t.Error(err)
	}

	// The timestamp is the alarm's own last transition.
	a, _ := center.Get("", alarm.BackendConnectionRefuse)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range families {
		if f.GetName() != "servicecomb_alarm_last_transition_timestamp_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			if m.GetLabel()[0].GetValue() == "BackendConnectionRefuse" {
				found = true
				got := time.Unix(0, int64(m.GetGauge().GetValue()*1e9))
				if d := got.Sub(a.ActivatedAt); d > time.Microsecond || d < -time.Microsecond {
					t.Errorf("last transition %v, want %v", got, a.ActivatedAt)
				}
			}
		}
	}
	if !found {
		t.Error("no last transition timestamp for BackendConnectionRefuse")
	}

	// Cleared and deleted alarms leave no series; the counters stay.
	center.ClearAll()
	want = `
# HELP servicecomb_alarm_transitions_total Times an alarm entered a status (ACTIVATED or CLEARED); keeps counting after the list is cleared.
# TYPE servicecomb_alarm_transitions_total counter
servicecomb_alarm_transitions_total{id="BackendConnectionRefuse",source="",status="ACTIVATED"} 1
servicecomb_alarm_transitions_total{id="BackendConnectionRefuse",source="",status="CLEARED"} 1
servicecomb_alarm_transitions_total{id="InternalError",source="",status="ACTIVATED"} 0
servicecomb_alarm_transitions_total{id="InternalError",source="",status="CLEARED"} 0
servicecomb_alarm_transitions_total{id="InternalError",source="http://sc:30100",status="ACTIVATED"} 1
servicecomb_alarm_transitions_total{id="InternalError",source="http://sc:30100",status="CLEARED"} 1
`
	names2 := strings.Fields(names + " servicecomb_alarm_last_transition_timestamp_seconds")
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), names2...); err != nil {
		t.Error(err)
	}
}

type fakeChecker struct{ err error }

func (f fakeChecker) Healthy() error { return f.err }

func TestHealthCollector(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{{nil, "1"}, {errors.New("down"), "0"}} {
		want := "# HELP servicecomb_healthy Whether the exporter's health check passes (1) or fails (0): it fails while BackendConnectionRefuse is active or a registry source is down.\n" +
			"# TYPE servicecomb_healthy gauge\nservicecomb_healthy " + tt.want + "\n"
		if err := testutil.CollectAndCompare(NewHealthCollector(fakeChecker{tt.err}), strings.NewReader(want)); err != nil {
			t.Errorf("health error %v: %v", tt.err, err)
		}
	}
}

func TestNotifyCollector(t *testing.T) {
	bus := notify.New(nil) // not running, so queued events stay queued
	typ, err := bus.RegisterType("ALARM", notify.TypeOptions{QueueSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Subscribe(notify.NewFuncSubscriber("s", typ, "subj", "g", func(notify.Event) error { return nil })); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		e := notify.NewBaseEvent(typ, "subj", "")
		_ = bus.Publish(&e)
	}
	want := `
# HELP servicecomb_notify_events_dropped_total Events dropped because the type's queue stayed full.
# TYPE servicecomb_notify_events_dropped_total counter
servicecomb_notify_events_dropped_total{type="ALARM"} 1
# HELP servicecomb_notify_events_published_total Events accepted into the type's queue.
# TYPE servicecomb_notify_events_published_total counter
servicecomb_notify_events_published_total{type="ALARM"} 2
# HELP servicecomb_notify_queue_capacity Capacity of the type's queue.
# TYPE servicecomb_notify_queue_capacity gauge
servicecomb_notify_queue_capacity{type="ALARM"} 2
# HELP servicecomb_notify_queue_length Events waiting in the type's queue.
# TYPE servicecomb_notify_queue_length gauge
servicecomb_notify_queue_length{type="ALARM"} 2
# HELP servicecomb_notify_subscribers Subscribers of the type.
# TYPE servicecomb_notify_subscribers gauge
servicecomb_notify_subscribers{type="ALARM"} 1
# HELP servicecomb_notify_subscribers_removed_total Subscribers removed from the type because they failed.
# TYPE servicecomb_notify_subscribers_removed_total counter
servicecomb_notify_subscribers_removed_total{type="ALARM"} 0
`
	if err := testutil.CollectAndCompare(NewNotifyCollector(bus), strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	// Lint the whole set: names, help and types follow the conventions.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewNotifyCollector(bus), NewHealthCollector(fakeChecker{}))
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}

// TestBuildInfoHelpNamesEveryLabel: the help text lists exactly the labels
// the metric carries.
func TestBuildInfoHelpNamesEveryLabel(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewBuildInfoCollector("servicecomb_exporter"))
	families, err := reg.Gather()
	if err != nil || len(families) != 1 {
		t.Fatalf("gather: %v %v", families, err)
	}
	help := families[0].GetHelp()
	labels := families[0].GetMetric()[0].GetLabel()
	if len(labels) != 7 {
		t.Errorf("%d labels, want 7", len(labels))
	}
	for _, l := range labels {
		if !strings.Contains(help, l.GetName()) {
			t.Errorf("help %q does not name label %s", help, l.GetName())
		}
	}
}
