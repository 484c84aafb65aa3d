package notify

import (
	"context"
	"fmt"
	"testing"
)

// countingSubscriber counts deliveries; only the delivery goroutine touches
// count, and the last subscriber signals when the benchmark's events are in.
type countingSubscriber struct {
	id, subject string
	typ         Type
	count       int
	want        int
	done        chan struct{}
}

func (s *countingSubscriber) ID() string      { return s.id }
func (s *countingSubscriber) Type() Type      { return s.typ }
func (s *countingSubscriber) Subject() string { return s.subject }
func (s *countingSubscriber) Group() string   { return "g" }
func (s *countingSubscriber) OnMessage(Event) error {
	s.count++
	if s.done != nil && s.count == s.want {
		close(s.done)
	}
	return nil
}

// BenchmarkPublishDeliver measures publish→deliver of one pre-built event to
// every subscriber of its subject; the clock stops when every subscriber has
// received every event. Compare with Service Center's bus measured the same
// way (docs/benchmarks.md).
func BenchmarkPublishDeliver(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			bus := New(nil)
			typ, err := bus.RegisterType("BENCH", TypeOptions{QueueSize: DefaultQueueSize, FullTimeout: 1e9})
			if err != nil {
				b.Fatal(err)
			}
			subs := make([]*countingSubscriber, n)
			for i := range subs {
				subs[i] = &countingSubscriber{id: fmt.Sprint(i), subject: "s", typ: typ, want: b.N}
				if err := bus.Subscribe(subs[i]); err != nil {
					b.Fatal(err)
				}
			}
			last := subs[n-1]
			last.done = make(chan struct{})
			ctx, cancel := context.WithCancel(context.Background())
			stopped := make(chan struct{})
			go func() { _ = bus.Run(ctx); close(stopped) }()
			e := &testEvent{BaseEvent: NewBaseEvent(typ, "s", "")}

			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := bus.Publish(e); err != nil {
					b.Fatal(err)
				}
			}
			<-last.done
			b.StopTimer()
			cancel()
			<-stopped
			for _, s := range subs {
				if s.count != b.N {
					b.Fatalf("subscriber %s received %d of %d events", s.id, s.count, b.N)
				}
			}
			if st := bus.Stats()[0]; st.Dropped != 0 {
				b.Fatalf("%d events dropped", st.Dropped)
			}
		})
	}
}

// BenchmarkBaselineChannel is the floor the bus is compared with in the same
// run: a bare buffered channel of the same capacity drained by one goroutine
// that calls every subscriber, with none of the bus's routing, stop
// handling or accounting.
func BenchmarkBaselineChannel(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			// Called through the interface, as any bus must.
			subs := make([]Subscriber, n)
			for i := range subs {
				subs[i] = &countingSubscriber{id: fmt.Sprint(i), subject: "s", want: b.N}
			}
			last := subs[n-1].(*countingSubscriber)
			last.done = make(chan struct{})
			queue := make(chan Event, DefaultQueueSize)
			go func() {
				for e := range queue {
					for _, s := range subs {
						_ = s.OnMessage(e)
					}
				}
			}()
			e := &testEvent{BaseEvent: NewBaseEvent(0, "s", "")}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				queue <- e
			}
			<-last.done
			b.StopTimer()
			close(queue)
		})
	}
}

// TestPublishDoesNotAllocate guards the zero-allocation fast path.
func TestPublishDoesNotAllocate(t *testing.T) {
	bus := New(nil)
	typ, _ := bus.RegisterType("T", TypeOptions{QueueSize: 1 << 12})
	e := &testEvent{BaseEvent: NewBaseEvent(typ, "s", "")}
	allocs := testing.AllocsPerRun(1000, func() {
		if err := bus.Publish(e); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Publish allocates %v times per call, want 0", allocs)
	}
}
