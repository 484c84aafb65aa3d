package notify

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/servicecomb/servicecomb_exporter/internal/testutil/wait"
)

// runBus runs b until the test ends and returns a function that stops it and
// waits for Run to return.
func runBus(t testing.TB, b *Bus) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// recorder is a subscriber that records which events it received.
type recorder struct {
	FuncSubscriber
	mu   sync.Mutex
	got  []string
	fail error
}

func newRecorder(id string, t Type, subject, group string) *recorder {
	r := &recorder{}
	r.FuncSubscriber = *NewFuncSubscriber(id, t, subject, group, func(e Event) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.got = append(r.got, e.(*testEvent).name)
		return r.fail
	})
	return r
}

func (r *recorder) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

type testEvent struct {
	BaseEvent
	name string
}

func newTestEvent(t Type, subject, group, name string) *testEvent {
	return &testEvent{BaseEvent: NewBaseEvent(t, subject, group), name: name}
}

func TestRouting(t *testing.T) {
	tests := []struct {
		name           string
		subject, group string
		want           []string // subscriber ids that receive the event
	}{
		{"group reaches only that group", "s1", "g1", []string{"s1g1a", "s1g1b"}},
		{"other group of the same subject", "s1", "g2", []string{"s1g2"}},
		{"empty group broadcasts to every group of the subject", "s1", "", []string{"s1g1a", "s1g1b", "s1g2"}},
		{"other subject", "s2", "", []string{"s2g1"}},
		{"subject with no subscribers", "s3", "", nil},
		{"group with no subscribers", "s1", "g9", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(nil)
			typ, err := b.RegisterType("T", TypeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			other, _ := b.RegisterType("OTHER", TypeOptions{})
			subs := []*recorder{
				newRecorder("s1g1a", typ, "s1", "g1"),
				newRecorder("s1g1b", typ, "s1", "g1"),
				newRecorder("s1g2", typ, "s1", "g2"),
				newRecorder("s2g1", typ, "s2", "g1"),
				newRecorder("other-type", other, tt.subject, tt.group),
			}
			for _, s := range subs {
				if err := b.Subscribe(s); err != nil {
					t.Fatal(err)
				}
			}
			stop := runBus(t, b)
			if err := b.Publish(newTestEvent(typ, tt.subject, tt.group, "e")); err != nil {
				t.Fatal(err)
			}
			stop() // Run returns after delivering everything queued
			var got []string
			for _, s := range subs {
				if r := s.received(); len(r) > 0 {
					if len(r) != 1 || r[0] != "e" {
						t.Errorf("%s received %v, want exactly [e]", s.ID(), r)
					}
					got = append(got, s.ID())
				}
			}
			sort.Strings(got)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("delivered to %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDeliveryOrder(t *testing.T) {
	b := New(nil)
	typ, _ := b.RegisterType("T", TypeOptions{QueueSize: 10})
	r := newRecorder("r", typ, "s", "g")
	if err := b.Subscribe(r); err != nil {
		t.Fatal(err)
	}
	runBus(t, b)
	var want []string
	for i := 0; i < 500; i++ {
		name := fmt.Sprint(i)
		want = append(want, name)
		for {
			err := b.Publish(newTestEvent(typ, "s", "", name))
			if err == nil {
				break
			}
			if !errors.Is(err, ErrDropped) {
				t.Fatal(err)
			}
			// Queue of 10 with no wait: retry until the worker makes room.
			wait.For(t, "room in queue", 5*time.Second, func() bool { return b.Stats()[0].QueueLength < 10 }, wait.Every(time.Millisecond))
		}
	}
	wait.For(t, "all events", 5*time.Second, func() bool { return len(r.received()) == len(want) })
	if got := r.received(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events out of order:\n got %v\nwant %v", got, want)
	}
}

func TestPublishErrors(t *testing.T) {
	b := New(nil)
	typ, _ := b.RegisterType("T", TypeOptions{})
	stop := runBus(t, b)
	tests := []struct {
		name string
		e    Event
		want error
	}{
		{"nil event", nil, ErrNilEvent},
		{"unknown type", newTestEvent(typ+1, "s", "", "x"), ErrUnknownType},
		{"negative type", newTestEvent(-1, "s", "", "x"), ErrUnknownType},
		{"no subject", newTestEvent(typ, "", "", "x"), ErrNoSubject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := b.Publish(tt.e); !errors.Is(err, tt.want) {
				t.Fatalf("Publish = %v, want %v", err, tt.want)
			}
		})
	}
	stop()
	if err := b.Publish(newTestEvent(typ, "s", "", "x")); !errors.Is(err, ErrStopped) {
		t.Fatalf("Publish after stop = %v, want ErrStopped", err)
	}
	if _, err := b.RegisterType("LATE", TypeOptions{}); !errors.Is(err, ErrStopped) {
		t.Fatalf("RegisterType after stop = %v, want ErrStopped", err)
	}
	if st := b.Stats()[0]; st.Published != 0 || st.Dropped != 0 {
		t.Fatalf("refused events were counted: %+v", st)
	}
}

func TestRegisterTypeErrors(t *testing.T) {
	b := New(nil)
	if _, err := b.RegisterType("T", TypeOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string]TypeOptions{
		"T":   {},
		"":    {},
		"neg": {QueueSize: -1},
	} {
		if _, err := b.RegisterType(name, opts); err == nil {
			t.Errorf("RegisterType(%q, %+v) succeeded, want error", name, opts)
		}
	}
}

func TestSubscribeErrors(t *testing.T) {
	b := New(nil)
	typ, _ := b.RegisterType("T", TypeOptions{})
	if err := b.Subscribe(newRecorder("a", typ, "s", "g")); err != nil {
		t.Fatal(err)
	}
	if err := b.Subscribe(newRecorder("a", typ, "other", "g")); !errors.Is(err, ErrDuplicateSub) {
		t.Errorf("duplicate id: %v, want ErrDuplicateSub", err)
	}
	if err := b.Subscribe(newRecorder("b", typ+5, "s", "g")); !errors.Is(err, ErrUnknownType) {
		t.Errorf("unknown type: %v, want ErrUnknownType", err)
	}
	if err := b.Subscribe(newRecorder("c", typ, "", "g")); !errors.Is(err, ErrNoSubject) {
		t.Errorf("no subject: %v, want ErrNoSubject", err)
	}
	if got := b.Stats()[0].Subscribers; got != 1 {
		t.Errorf("subscribers = %d, want 1", got)
	}
}

func TestFailedSubscriberIsRemoved(t *testing.T) {
	tests := []struct {
		name    string
		onEvent func(r *recorder) error
	}{
		{"returns an error", func(*recorder) error { return errors.New("connection closed") }},
		{"panics", func(*recorder) error { panic("boom") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(nil)
			typ, _ := b.RegisterType("T", TypeOptions{})
			healthy := newRecorder("healthy", typ, "s", "g")
			broken := newRecorder("broken", typ, "s", "g")
			var calls atomic.Int32
			broken.Func = func(Event) error { calls.Add(1); return tt.onEvent(broken) }
			for _, s := range []Subscriber{broken, healthy} {
				if err := b.Subscribe(s); err != nil {
					t.Fatal(err)
				}
			}
			stop := runBus(t, b)
			for i := 0; i < 3; i++ {
				if err := b.Publish(newTestEvent(typ, "s", "", fmt.Sprint(i))); err != nil {
					t.Fatal(err)
				}
			}
			stop()
			if n := calls.Load(); n != 1 {
				t.Errorf("broken subscriber called %d times, want 1 (removed after its first failure)", n)
			}
			if got := healthy.received(); len(got) != 3 {
				t.Errorf("healthy subscriber received %v, want all 3 events", got)
			}
			st := b.Stats()[0]
			if st.Subscribers != 1 || st.SubscribersRemoved != 1 {
				t.Errorf("stats %+v, want 1 subscriber left and 1 removed", st)
			}
		})
	}
}

func TestUnsubscribe(t *testing.T) {
	b := New(nil)
	typ, _ := b.RegisterType("T", TypeOptions{})
	r := newRecorder("r", typ, "s", "g")
	if err := b.Subscribe(r); err != nil {
		t.Fatal(err)
	}
	if !b.Unsubscribe(r) {
		t.Fatal("Unsubscribe of a subscriber reported false")
	}
	if b.Unsubscribe(r) {
		t.Fatal("second Unsubscribe reported true")
	}
	stop := runBus(t, b)
	if err := b.Publish(newTestEvent(typ, "s", "", "x")); err != nil {
		t.Fatal(err)
	}
	stop()
	if got := r.received(); len(got) != 0 {
		t.Fatalf("unsubscribed subscriber received %v", got)
	}
	if st := b.Stats()[0]; st.Subscribers != 0 || st.SubscribersRemoved != 0 {
		t.Fatalf("stats %+v, want no subscribers and no failure removals", st)
	}
}

func TestQueueFullPolicy(t *testing.T) {
	t.Run("no wait drops at once and counts", func(t *testing.T) {
		b := New(nil) // not running: nothing drains the queue
		typ, _ := b.RegisterType("T", TypeOptions{QueueSize: 2})
		var errs []error
		for i := 0; i < 5; i++ {
			errs = append(errs, b.Publish(newTestEvent(typ, "s", "", "x")))
		}
		for i, err := range errs {
			want := error(nil)
			if i >= 2 {
				want = ErrDropped
			}
			if !errors.Is(err, want) {
				t.Errorf("publish %d: %v, want %v", i, err, want)
			}
		}
		st := b.Stats()[0]
		if st.Published != 2 || st.Dropped != 3 || st.QueueLength != 2 || st.QueueCapacity != 2 {
			t.Errorf("stats %+v, want published 2, dropped 3, length 2, capacity 2", st)
		}
	})
	t.Run("wait then drop", func(t *testing.T) {
		b := New(nil)
		const wait = 30 * time.Millisecond
		typ, _ := b.RegisterType("T", TypeOptions{QueueSize: 1, FullTimeout: wait})
		if err := b.Publish(newTestEvent(typ, "s", "", "x")); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err := b.Publish(newTestEvent(typ, "s", "", "y"))
		if !errors.Is(err, ErrDropped) {
			t.Fatalf("publish into full queue: %v, want ErrDropped", err)
		}
		if waited := time.Since(start); waited < wait {
			t.Errorf("dropped after %v, want a wait of at least %v", waited, wait)
		}
		if st := b.Stats()[0]; st.Dropped != 1 || st.Published != 1 {
			t.Errorf("stats %+v, want 1 published and 1 dropped", st)
		}
	})
	t.Run("wait then deliver when room appears", func(t *testing.T) {
		b := New(nil)
		typ, _ := b.RegisterType("T", TypeOptions{QueueSize: 1, FullTimeout: time.Minute})
		r := newRecorder("r", typ, "s", "")
		if err := b.Subscribe(r); err != nil {
			t.Fatal(err)
		}
		if err := b.Publish(newTestEvent(typ, "s", "", "first")); err != nil {
			t.Fatal(err)
		}
		result := make(chan error, 1)
		go func() { result <- b.Publish(newTestEvent(typ, "s", "", "second")) }()
		runBus(t, b) // the worker drains the queue and lets the waiting publisher in
		if err := <-result; err != nil {
			t.Fatalf("waiting publish: %v", err)
		}
		wait.For(t, "both events", 5*time.Second, func() bool { return len(r.received()) == 2 })
		if got := r.received(); fmt.Sprint(got) != "[first second]" {
			t.Errorf("received %v", got)
		}
		if st := b.Stats()[0]; st.Dropped != 0 || st.Published != 2 {
			t.Errorf("stats %+v, want 2 published, none dropped", st)
		}
	})
}

func TestStopDeliversQueuedEvents(t *testing.T) {
	b := New(nil)
	typ, _ := b.RegisterType("T", TypeOptions{QueueSize: 100})
	r := newRecorder("r", typ, "s", "")
	if err := b.Subscribe(r); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if err := b.Publish(newTestEvent(typ, "s", "", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // stop at once: Run must still deliver what was queued
	if err := b.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(r.received()); got != 100 {
		t.Fatalf("delivered %d of 100 queued events before stopping", got)
	}
	if err := b.Run(context.Background()); err == nil {
		t.Fatal("second Run succeeded")
	}
}

func TestRegisterTypeWhileRunning(t *testing.T) {
	b := New(nil)
	runBus(t, b)
	typ, err := b.RegisterType("LATE", TypeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := newRecorder("r", typ, "s", "")
	if err := b.Subscribe(r); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(newTestEvent(typ, "s", "", "x")); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "delivery on a type registered while running", 5*time.Second, func() bool { return len(r.received()) == 1 })
	if b.TypeName(typ) != "LATE" || b.TypeName(typ+1) != "" {
		t.Errorf("TypeName: %q, %q", b.TypeName(typ), b.TypeName(typ+1))
	}
}

// TestConcurrentPublishSubscribe is for the race detector: publishers,
// subscription changes and stats run at once, and every accepted event is
// delivered to the subscriber that stays throughout.
func TestConcurrentPublishSubscribe(t *testing.T) {
	b := New(nil)
	typ, _ := b.RegisterType("T", TypeOptions{QueueSize: 64, FullTimeout: time.Second})
	var delivered atomic.Int64
	steady := NewFuncSubscriber("steady", typ, "s", "g", func(Event) error { delivered.Add(1); return nil })
	if err := b.Subscribe(steady); err != nil {
		t.Fatal(err)
	}
	stop := runBus(t, b)
	var wg sync.WaitGroup
	const publishers, perPublisher = 4, 1000
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := newTestEvent(typ, "s", "", "x")
			for i := 0; i < perPublisher; i++ {
				if err := b.Publish(e); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 200; i++ {
			s := NewFuncSubscriber(fmt.Sprint("churn", i), typ, "s", "g", func(Event) error { return nil })
			if err := b.Subscribe(s); err != nil {
				t.Error(err)
				return
			}
			_ = b.Stats()
			b.Unsubscribe(s)
		}
	}()
	wg.Wait()
	stop()
	if got := delivered.Load(); got != publishers*perPublisher {
		t.Fatalf("steady subscriber got %d events, want %d", got, publishers*perPublisher)
	}
}
