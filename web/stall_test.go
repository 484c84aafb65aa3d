package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/servicecomb/servicecomb_exporter/alarm"
	"github.com/servicecomb/servicecomb_exporter/collector"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/wait"
	"github.com/servicecomb/servicecomb_exporter/notify"
)

// TestStalledSubscriberDelaysNoReader: while an alarm subscriber stalls and
// a raise waits for room in the full queue behind it, /health, the alarm
// list and a scrape still answer at once, and show that raise.
func TestStalledSubscriberDelaysNoReader(t *testing.T) {
	bus := notify.New(nil)
	// One slot, and a wait far longer than the test: the raise below waits
	// until the subscriber is released.
	center, err := alarm.NewCenter(bus, nil, alarm.WithQueue(1, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = bus.Run(ctx); close(done) }()
	t.Cleanup(func() { center.Close(); cancel(); <-done })

	stalled, gate := make(chan struct{}, 1), make(chan struct{})
	released := false
	release := func() {
		if !released {
			released = true
			close(gate)
		}
	}
	t.Cleanup(release) // before the bus stops: cleanups run last first
	err = center.Subscribe("stalled", func(alarm.Event) {
		select {
		case stalled <- struct{}{}:
		default:
		}
		<-gate
	})
	if err != nil {
		t.Fatal(err)
	}

	health := alarm.NewHealthChecker(center)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector.NewAlarmCollector(center))
	h, err := NewHandler(Options{Alarms: center, Health: health, Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{center: center, handler: h}
	// get fails the test when a request takes longer than a stalled bus
	// could explain away; readers answer in microseconds.
	get := func(target string) (int, string) {
		t.Helper()
		type answer struct {
			code int
			body string
		}
		answered := make(chan answer, 1)
		go func() {
			code, _, body := f.do(http.MethodGet, target, nil)
			answered <- answer{code, body}
		}()
		select {
		case a := <-answered:
			return a.code, a.body
		case <-time.After(5 * time.Second):
			t.Fatalf("GET %s waited for the stalled subscriber", target)
			return 0, ""
		}
	}

	// The first event stalls the subscriber, the second fills the queue,
	// the third waits for room.
	if err := center.Raise(alarm.InternalError); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stalled:
	case <-time.After(10 * time.Second):
		t.Fatal("the subscriber never received the first event")
	}
	if err := center.RaiseFrom("sc", "Mirrored"); err != nil {
		t.Fatal(err)
	}
	raised := make(chan error, 1)
	go func() { raised <- center.Raise(alarm.BackendConnectionRefuse, alarm.Detail("backend down")) }()

	wait.For(t, "/health reporting the raise", 10*time.Second, func() bool {
		code, body := get("/health")
		return code != http.StatusOK && strings.Contains(body, "backend down")
	})
	if _, body := get("/v4/default/admin/alarms"); !strings.Contains(body, `"BackendConnectionRefuse"`) {
		t.Errorf("the alarm list misses the raise: %s", body)
	}
	if _, body := get("/metrics"); !strings.Contains(body, `servicecomb_alarm_active{id="BackendConnectionRefuse",source=""} 1`) {
		t.Errorf("the scrape misses the raise:\n%s", body)
	}
	select {
	case err := <-raised:
		t.Fatalf("the raise returned (%v) before the subscriber was released: the test did not stall the bus", err)
	default:
	}

	release()
	select {
	case err := <-raised:
		if err != nil {
			t.Errorf("raise: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the raise still waits after the subscriber was released")
	}
	if st := bus.Stats()[0]; st.Dropped != 0 {
		t.Errorf("%d events dropped; the raise should have waited for room", st.Dropped)
	}
}
