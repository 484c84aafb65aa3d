package alarm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servicecomb/servicecomb_exporter/internal/testutil/wait"
	"github.com/servicecomb/servicecomb_exporter/notify"
)

// harness is a center on a running bus with a subscriber recording every
// transition event.
type harness struct {
	center *Center
	bus    *notify.Bus
	mu     sync.Mutex
	events []Event
	stop   func()
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{bus: notify.New(nil)}
	var err error
	if h.center, err = NewCenter(h.bus, nil); err != nil {
		t.Fatal(err)
	}
	err = h.center.Subscribe("rec", func(e Event) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.events = append(h.events, e)
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = h.bus.Run(ctx); close(done) }()
	var once sync.Once
	h.stop = func() { once.Do(func() { h.center.Close(); cancel(); <-done }) }
	t.Cleanup(h.stop)
	return h
}

// transitions stops the bus (delivering everything queued) and returns the
// recorded events as "transition id/source status" strings.
func (h *harness) transitions() []string {
	h.stop()
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, e := range h.events {
		out = append(out, fmt.Sprintf("%s %s/%s %s", e.Transition, e.Alarm.ID, e.Alarm.Source, e.Alarm.Status))
	}
	return out
}

// received reports whether an event of transition t of the exporter's own
// alarm id was delivered.
func (h *harness) received(t Transition, id ID) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.events {
		if e.Transition == t && e.Alarm.ID == id && e.Alarm.Source == "" {
			return true
		}
	}
	return false
}

func listed(c *Center) []string {
	var out []string
	for _, a := range c.List() {
		out = append(out, fmt.Sprintf("%s/%s %s %s", a.ID, a.Source, a.Status, a.Detail()))
	}
	return out
}

func TestCenterSemantics(t *testing.T) {
	const bcr, ie = BackendConnectionRefuse, InternalError
	tests := []struct {
		name       string
		steps      func(c *Center)
		wantList   []string
		wantEvents []string
	}{
		{
			name:       "raise activates",
			steps:      func(c *Center) { must(c.Raise(bcr, Detail("etcd down"))) },
			wantList:   []string{"BackendConnectionRefuse/ ACTIVATED etcd down"},
			wantEvents: []string{"activated BackendConnectionRefuse/ ACTIVATED"},
		},
		{
			name: "raise with identical fields publishes nothing",
			steps: func(c *Center) {
				must(c.Raise(bcr, Detail("etcd down")))
				must(c.Raise(bcr, Detail("etcd down")))
			},
			wantList:   []string{"BackendConnectionRefuse/ ACTIVATED etcd down"},
			wantEvents: []string{"activated BackendConnectionRefuse/ ACTIVATED"},
		},
		{
			name: "raise with other fields updates",
			steps: func(c *Center) {
				must(c.Raise(bcr, Detail("etcd down")))
				must(c.Raise(bcr, Detail("still down")))
			},
			wantList:   []string{"BackendConnectionRefuse/ ACTIVATED still down"},
			wantEvents: []string{"activated BackendConnectionRefuse/ ACTIVATED", "updated BackendConnectionRefuse/ ACTIVATED"},
		},
		{
			name: "clear keeps the alarm listed, clearing twice changes nothing",
			steps: func(c *Center) {
				must(c.Raise(bcr, Detail("etcd down")))
				c.Clear(bcr)
				c.Clear(bcr)
			},
			wantList:   []string{"BackendConnectionRefuse/ CLEARED etcd down"},
			wantEvents: []string{"activated BackendConnectionRefuse/ ACTIVATED", "cleared BackendConnectionRefuse/ CLEARED"},
		},
		{
			name:  "clear unknown changes nothing",
			steps: func(c *Center) { c.Clear(bcr); c.ClearFrom("sc", "Whatever") },
		},
		{
			name: "raise after clear activates again",
			steps: func(c *Center) {
				must(c.Raise(bcr, Detail("a")))
				c.Clear(bcr)
				must(c.Raise(bcr, Detail("a")))
			},
			wantList: []string{"BackendConnectionRefuse/ ACTIVATED a"},
			wantEvents: []string{"activated BackendConnectionRefuse/ ACTIVATED", "cleared BackendConnectionRefuse/ CLEARED",
				"activated BackendConnectionRefuse/ ACTIVATED"},
		},
		{
			name: "clear all empties the list and reports each removal",
			steps: func(c *Center) {
				must(c.Raise(bcr, Detail("a")))
				must(c.Raise(ie, Detail("b")))
				c.Clear(ie)
				c.ClearAll()
			},
			wantEvents: []string{"activated BackendConnectionRefuse/ ACTIVATED", "activated InternalError/ ACTIVATED",
				"cleared InternalError/ CLEARED", "removed BackendConnectionRefuse/ CLEARED", "removed InternalError/ CLEARED"},
		},
		{
			name: "identity is id and source",
			steps: func(c *Center) {
				must(c.RaiseFrom("http://sc-1:30100", bcr, Detail("sc etcd down")))
				must(c.Raise(bcr, Detail("our etcd down")))
				c.Clear(bcr)
			},
			wantList: []string{"BackendConnectionRefuse/ CLEARED our etcd down",
				"BackendConnectionRefuse/http://sc-1:30100 ACTIVATED sc etcd down"},
			wantEvents: []string{"activated BackendConnectionRefuse/http://sc-1:30100 ACTIVATED",
				"activated BackendConnectionRefuse/ ACTIVATED", "cleared BackendConnectionRefuse/ CLEARED"},
		},
		{
			name:       "mirrored alarms may use ids nobody registered",
			steps:      func(c *Center) { must(c.RaiseFrom("sc", "DiskFull", Detail("95%%"))) },
			wantList:   []string{"DiskFull/sc ACTIVATED 95%"},
			wantEvents: []string{"activated DiskFull/sc ACTIVATED"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			tt.steps(h.center)
			// The state is exact as soon as the calls return.
			if got := listed(h.center); fmt.Sprint(got) != fmt.Sprint(tt.wantList) {
				t.Errorf("list:\n got %q\nwant %q", got, tt.wantList)
			}
			if got := h.transitions(); fmt.Sprint(got) != fmt.Sprint(tt.wantEvents) {
				t.Errorf("events:\n got %q\nwant %q", got, tt.wantEvents)
			}
		})
	}
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func TestRaiseErrors(t *testing.T) {
	h := newHarness(t)
	if err := h.center.Raise("NoSuchAlarm"); !errors.Is(err, ErrUnknownID) {
		t.Errorf("raise of an unregistered own id: %v, want ErrUnknownID", err)
	}
	if err := h.center.Raise(BackendConnectionRefuse, Field{Key: "bad", Value: make(chan int)}); err == nil {
		t.Error("raise with a field that cannot be JSON: no error")
	}
	if err := h.center.Raise(BackendConnectionRefuse, Field{Value: "x"}); err == nil {
		t.Error("raise with an empty field key: no error")
	}
	if got := h.center.List(); len(got) != 0 {
		t.Errorf("failed raises changed the list: %v", got)
	}
	if err := h.center.Register(Definition{ID: BackendConnectionRefuse}); err == nil {
		t.Error("registering a built-in id again: no error")
	}
	if err := h.center.Register(Definition{ID: "Custom", Severity: "info", Summary: "x."}); err != nil {
		t.Fatal(err)
	}
	if err := h.center.Raise("Custom"); err != nil {
		t.Errorf("raise of a registered id: %v", err)
	}
}

func TestAlarmAttributes(t *testing.T) {
	h := newHarness(t)
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h.center.now = func() time.Time { return clock }
	must(h.center.Raise(BackendConnectionRefuse, Detail("down"), Field{Key: "endpoints", Value: []string{"a", "b"}}))
	activated := clock
	clock = clock.Add(time.Minute)
	must(h.center.Raise(BackendConnectionRefuse, Detail("down"), Field{Key: "endpoints", Value: []string{"a", "b"}}))
	clock = clock.Add(time.Minute)
	h.center.Clear(BackendConnectionRefuse)

	a, ok := h.center.Get("", BackendConnectionRefuse)
	if !ok {
		t.Fatal("alarm not listed")
	}
	if !a.ActivatedAt.Equal(activated) || !a.ClearedAt.Equal(clock) || !a.UpdatedAt.Equal(clock) || a.RaiseCount != 2 {
		t.Errorf("attributes: activated %v cleared %v updated %v raised %d", a.ActivatedAt, a.ClearedAt, a.UpdatedAt, a.RaiseCount)
	}
	if !a.LastTransition().Equal(clock) {
		t.Errorf("last transition %v, want %v", a.LastTransition(), clock)
	}
	body, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"BackendConnectionRefuse","status":"CLEARED","fields":{"detail":"down","endpoints":["a","b"]},` +
		`"activatedAt":"2026-01-02T03:04:05Z","clearedAt":"2026-01-02T03:06:05Z","updatedAt":"2026-01-02T03:06:05Z","raiseCount":2}`
	if string(body) != want {
		t.Errorf("JSON:\n got %s\nwant %s", body, want)
	}
	must(h.center.Raise(BackendConnectionRefuse))
	a, _ = h.center.Get("", BackendConnectionRefuse)
	if body, _ := json.Marshal(a); strings.Contains(string(body), "clearedAt") || strings.Contains(string(body), "fields") {
		t.Errorf("active alarm without fields: %s", body)
	}
}

func TestTransitionCounts(t *testing.T) {
	h := newHarness(t)
	must(h.center.Raise(BackendConnectionRefuse))
	h.center.Clear(BackendConnectionRefuse)
	must(h.center.Raise(BackendConnectionRefuse))
	must(h.center.RaiseFrom("sc", InternalError))
	h.center.ClearAll() // clears both active alarms: counted, and counts survive the removal
	got := fmt.Sprint(h.center.Transitions())
	want := fmt.Sprint([]TransitionCount{
		{BackendConnectionRefuse, "", Activated, 2}, {BackendConnectionRefuse, "", Cleared, 2},
		// The exporter's own ids exist at zero before their first transition.
		{InternalError, "", Activated, 0}, {InternalError, "", Cleared, 0},
		{InternalError, "sc", Activated, 1}, {InternalError, "sc", Cleared, 1},
	})
	if got != want {
		t.Errorf("transitions:\n got %s\nwant %s", got, want)
	}
}

func TestAutoClear(t *testing.T) {
	h := newHarness(t)
	if err := h.center.SetAutoClear(InternalError, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	must(h.center.Raise(InternalError, Detail("GET /x: 500")))
	must(h.center.Raise(BackendConnectionRefuse)) // no quiet period: stays
	wait.For(t, "InternalError cleared after its quiet period", 5*time.Second, func() bool {
		a, _ := h.center.Get("", InternalError)
		return !a.Active()
	}, wait.Every(time.Millisecond))
	// The timer's clear reaches the subscribers too.
	wait.For(t, "the auto-clear published", 5*time.Second, func() bool {
		return h.received(TransitionCleared, InternalError)
	}, wait.Every(time.Millisecond))
	if a, _ := h.center.Get("", BackendConnectionRefuse); !a.Active() {
		t.Error("BackendConnectionRefuse cleared itself")
	}
	if err := h.center.SetAutoClear("Nope", time.Second); !errors.Is(err, ErrUnknownID) {
		t.Errorf("SetAutoClear of unknown id: %v", err)
	}
}

// TestAutoClearIgnoresStaleTimer checks that a quiet-period timer armed by an
// earlier raise cannot clear an alarm raised again since.
func TestAutoClearIgnoresStaleTimer(t *testing.T) {
	h := newHarness(t)
	must(h.center.Raise(InternalError, Detail("first")))
	must(h.center.Raise(InternalError, Detail("second")))
	h.center.mu.Lock()
	h.center.clearLocked(key{id: InternalError}, 1) // what the first raise's timer would do
	h.center.mu.Unlock()
	if a, _ := h.center.Get("", InternalError); !a.Active() {
		t.Fatal("stale timer cleared a newer raise")
	}
	h.center.mu.Lock()
	h.center.clearLocked(key{id: InternalError}, 2)
	h.center.mu.Unlock()
	if a, _ := h.center.Get("", InternalError); a.Active() {
		t.Fatal("current timer did not clear")
	}
}

func TestHealthChecker(t *testing.T) {
	tests := []struct {
		name  string
		steps func(c *Center)
		want  string // "" healthy, else the error text
	}{
		{"no alarms", func(*Center) {}, ""},
		{"backend refused", func(c *Center) { must(c.Raise(BackendConnectionRefuse, Detail("etcd 127.0.0.1:2379: refused"))) },
			"etcd 127.0.0.1:2379: refused"},
		{"backend refused without detail", func(c *Center) { must(c.Raise(BackendConnectionRefuse)) },
			"registry backend connection refused"},
		{"backend refused then cleared", func(c *Center) { must(c.Raise(BackendConnectionRefuse)); c.Clear(BackendConnectionRefuse) }, ""},
		{"internal error does not make unhealthy", func(c *Center) { must(c.Raise(InternalError)) }, ""},
		{"mirrored backend alarm does not make unhealthy", func(c *Center) { must(c.RaiseFrom("sc", BackendConnectionRefuse)) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			tt.steps(h.center)
			err := NewHealthChecker(h.center).Healthy()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Healthy() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDefinitions(t *testing.T) {
	h := newHarness(t)
	if d := h.center.Definition(BackendConnectionRefuse); d.Severity != "critical" || d.Summary == "" {
		t.Errorf("BackendConnectionRefuse: %+v", d)
	}
	if d := h.center.Definition(InternalError); d.Severity != "warning" || d.AutoClearAfter != 0 { // set from the configuration
		t.Errorf("InternalError: %+v", d)
	}
	if d := h.center.Definition("Mirrored"); d.Severity != "warning" || !strings.Contains(d.Summary, "Mirrored") {
		t.Errorf("unregistered: %+v", d)
	}
}
