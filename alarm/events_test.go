package alarm

import (
	"fmt"
	"sync"
	"testing"
)

// TestEventsInStateOrder: events reach subscribers in the order the state
// changed (Seq 1, 2, 3, ... with no gap), even with concurrent raises and
// clears, so that a subscriber applying them ends with the center's state.
func TestEventsInStateOrder(t *testing.T) {
	h := newHarness(t)
	const workers, rounds = 8, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own := fmt.Sprintf("sc-%d", w)
			for i := range rounds {
				// One alarm shared by every worker, one of its own.
				if err := h.center.RaiseFrom("shared", InternalError, Detail("worker %d round %d", w, i)); err != nil {
					t.Error(err)
					return
				}
				if err := h.center.RaiseFrom(own, InternalError); err != nil {
					t.Error(err)
					return
				}
				h.center.ClearFrom(own, InternalError)
			}
		}()
	}
	wg.Wait()
	want := map[string]Alarm{}
	for _, a := range h.center.List() {
		want[a.Source] = a
	}
	h.transitions() // stops the bus once every event is delivered

	h.mu.Lock()
	defer h.mu.Unlock()
	// Each shared raise activates or updates (every detail differs); each
	// own alarm is activated and cleared every round.
	if n := workers * rounds * 3; len(h.events) != n {
		t.Fatalf("%d events delivered, want %d", len(h.events), n)
	}
	last := map[string]Alarm{}
	for i, e := range h.events {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d: delivered out of the order of the changes", i+1, e.Seq)
		}
		last[e.Alarm.Source] = e.Alarm
	}
	for source, a := range want {
		got := last[source]
		if got.Status != a.Status || got.Detail() != a.Detail() || !got.UpdatedAt.Equal(a.UpdatedAt) {
			t.Errorf("%s: last event %s %q at %v, the center has %s %q at %v", source,
				got.Status, got.Detail(), got.UpdatedAt, a.Status, a.Detail(), a.UpdatedAt)
		}
	}
}
