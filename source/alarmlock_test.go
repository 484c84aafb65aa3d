package source

import (
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/common/model"

	"github.com/servicecomb/servicecomb_exporter/alarm"
	"github.com/servicecomb/servicecomb_exporter/config"
	"github.com/servicecomb/servicecomb_exporter/notify"
)

// stallingAlarms is a real alarm center whose Raise, Clear and ClearFrom,
// once armed, wait until released: a center stuck behind a full bus.
type stallingAlarms struct {
	*alarm.Center
	armed   atomic.Bool
	entered chan string
	release chan struct{}
}

func (s *stallingAlarms) stall(op string) {
	if !s.armed.Load() {
		return
	}
	select {
	case s.entered <- op:
	default:
	}
	<-s.release
}

func (s *stallingAlarms) Raise(id alarm.ID, fields ...alarm.Field) error {
	s.stall("raise " + string(id))
	return s.Center.Raise(id, fields...)
}

func (s *stallingAlarms) Clear(id alarm.ID) {
	s.stall("clear " + string(id))
	s.Center.Clear(id)
}

func (s *stallingAlarms) ClearFrom(source string, id alarm.ID) {
	s.stall("clear " + source + "/" + string(id))
	s.Center.ClearFrom(source, id)
}

// TestAlarmsAppliedOutsideLock: while the alarm center stalls in a raise
// or a clear the manager asked for, the manager's readers (the health
// check, scrapes) still answer. The manager is not running, so the test
// drives every change itself.
func TestAlarmsAppliedOutsideLock(t *testing.T) {
	const bcr = alarm.BackendConnectionRefuse
	down := func(m *Manager, name, detail string) {
		m.mu.Lock()
		r, _ := m.sources.Get(name)
		m.mu.Unlock()
		(&reporter{m: m, name: name, generation: r.generation}).SourceDown("", detail)
	}
	up := func(m *Manager, name string) {
		m.mu.Lock()
		r, _ := m.sources.Get(name)
		m.mu.Unlock()
		(&reporter{m: m, name: name, generation: r.generation}).SourceUp("")
	}
	dead := etcdSource("a", "http://127.0.0.1:1")
	sc := config.SourceConfig{Name: "sc", ServiceCenter: &config.ServiceCenterConfig{
		Endpoints: []string{"http://127.0.0.1:1"}, PollInterval: model.Duration(time.Hour),
		RequestTimeout: model.Duration(time.Second), Username: "exporter", Password: "secret",
	}}
	tests := []struct {
		name   string
		setup  func(m *Manager, s *stallingAlarms)
		action func(m *Manager)
		stalls string // the call the center stalls in
		health string // what Healthy reports meanwhile; "" for healthy
	}{
		{
			name:   "source down raises",
			setup:  func(m *Manager, _ *stallingAlarms) { apply(t, m, dead) },
			action: func(m *Manager) { down(m, "a", "a: connection refused") },
			stalls: "raise " + string(bcr), health: "a: connection refused",
		},
		{
			name:   "source up clears",
			setup:  func(m *Manager, _ *stallingAlarms) { apply(t, m, dead); down(m, "a", "a: refused") },
			action: func(m *Manager) { up(m, "a") },
			stalls: "clear " + string(bcr),
		},
		{
			name:   "removed source clears",
			setup:  func(m *Manager, _ *stallingAlarms) { apply(t, m, dead); down(m, "a", "a: refused") },
			action: func(m *Manager) { _ = m.ApplyConfig(config.Default()) },
			stalls: "clear " + string(bcr),
		},
		{
			name: "check raises again after the list was emptied",
			setup: func(m *Manager, s *stallingAlarms) {
				apply(t, m, dead)
				down(m, "a", "a: refused")
				s.Center.ClearAll()
			},
			action: func(m *Manager) { m.reconcile() },
			stalls: "raise " + string(bcr), health: "a: refused",
		},
		{
			name:   "removed Service Center source clears AuthenticationFailed",
			setup:  func(m *Manager, _ *stallingAlarms) { apply(t, m, sc) },
			action: func(m *Manager) { _ = m.ApplyConfig(config.Default()) },
			stalls: "clear sc/" + string(alarm.AuthenticationFailed),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			center, err := alarm.NewCenter(notify.New(nil), nil, alarm.WithQueue(notify.DefaultQueueSize, 0))
			if err != nil {
				t.Fatal(err)
			}
			s := &stallingAlarms{Center: center, entered: make(chan string, 16), release: make(chan struct{})}
			released := false
			release := func() {
				if !released {
					released = true
					close(s.release)
				}
			}
			t.Cleanup(release)
			m := NewManager(log.NewNopLogger(), s)
			tt.setup(m, s)
			s.armed.Store(true)

			acted := make(chan struct{})
			go func() { defer close(acted); tt.action(m) }()
			select {
			case op := <-s.entered:
				if op != tt.stalls {
					t.Fatalf("center stalled in %q, want %q", op, tt.stalls)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("the center was never asked to %s", tt.stalls)
			}

			// The readers answer while the center stalls; before, they
			// waited for the manager's lock as long as the center did.
			readers := make(chan error, 1)
			go func() {
				_ = m.Snapshots()
				_ = m.Ready()
				readers <- m.Healthy()
			}()
			select {
			case err := <-readers:
				got := ""
				if err != nil {
					got = err.Error()
				}
				if got != tt.health {
					t.Errorf("Healthy() = %q while the center stalls, want %q", got, tt.health)
				}
			case <-time.After(5 * time.Second):
				t.Error("Healthy and Snapshots waited for the stalled center: the manager called it under its lock")
			}
			select {
			case <-acted:
				t.Error("the change returned before the center applied it")
			default:
			}
			release()
			select {
			case <-acted:
			case <-time.After(10 * time.Second):
				t.Fatal("the change did not finish once the center was released")
			}
		})
	}
}

// yielding is a center that lets other goroutines run during each change,
// as a busy center would, and counts changes applied at the same time:
// one could overtake the other.
type yielding struct {
	*alarm.Center
	inFlight, overlaps atomic.Int32
}

func (y *yielding) change(apply func()) {
	if y.inFlight.Add(1) > 1 {
		y.overlaps.Add(1)
	}
	runtime.Gosched()
	apply()
	y.inFlight.Add(-1)
}

func (y *yielding) Raise(id alarm.ID, fields ...alarm.Field) (err error) {
	y.change(func() { err = y.Center.Raise(id, fields...) })
	return err
}

func (y *yielding) Clear(id alarm.ID) { y.change(func() { y.Center.Clear(id) }) }

func apply(t *testing.T, m *Manager, sources ...config.SourceConfig) {
	t.Helper()
	cfg := config.Default()
	cfg.Sources = sources
	if err := m.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
}

// TestAlarmChangesKeepOrder: changes decided one after another reach the
// center one at a time, in that order, even from concurrent reporters, so
// that the alarm ends as the sources' last state says.
func TestAlarmChangesKeepOrder(t *testing.T) {
	center, err := alarm.NewCenter(notify.New(nil), nil, alarm.WithQueue(notify.DefaultQueueSize, 0))
	if err != nil {
		t.Fatal(err)
	}
	y := &yielding{Center: center}
	m := NewManager(log.NewNopLogger(), y)
	var names []string
	var srcs []config.SourceConfig
	for i := range 8 {
		name := string(rune('a' + i))
		names = append(names, name)
		srcs = append(srcs, etcdSource(name, "http://127.0.0.1:1"))
	}
	apply(t, m, srcs...)
	reporters := map[string]*reporter{}
	for _, name := range names {
		reporters[name] = &reporter{m: m, name: name, generation: sourceGeneration(m, name)}
	}
	done := make(chan struct{})
	for _, name := range names {
		go func() {
			defer func() { done <- struct{}{} }()
			r := reporters[name]
			for i := range 200 {
				if i%2 == 0 {
					r.SourceDown("", name+": refused")
				} else {
					r.SourceUp("")
				}
			}
			if name < "e" {
				r.SourceDown("", name+": refused")
			}
		}()
	}
	for range names {
		<-done
	}
	if n := y.overlaps.Load(); n > 0 {
		t.Errorf("%d changes applied while another was being applied", n)
	}
	a, ok := center.Get("", alarm.BackendConnectionRefuse)
	if !ok || !a.Active() || a.Detail() != "a: refused; b: refused; c: refused; d: refused" {
		t.Errorf("alarm after the last reports: active %v, detail %q", ok && a.Active(), a.Detail())
	}
	if err := m.Healthy(); err == nil || !strings.HasPrefix(err.Error(), "a: refused") {
		t.Errorf("Healthy() = %v", err)
	}
}

func sourceGeneration(m *Manager, name string) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, _ := m.sources.Get(name)
	return r.generation
}
