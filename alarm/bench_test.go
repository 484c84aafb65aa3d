package alarm

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/servicecomb/servicecomb_exporter/notify"
)

// BenchmarkRaise measures a raise that changes the alarm, so that each one
// is published, with one subscriber on a running bus: serially, and from
// every core at once with readers listing the alarms meanwhile.
func BenchmarkRaise(b *testing.B) {
	bus := notify.New(nil)
	c, err := NewCenter(bus, nil)
	if err != nil {
		b.Fatal(err)
	}
	var delivered atomic.Uint64
	if err := c.Subscribe("count", func(Event) { delivered.Add(1) }); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = bus.Run(ctx); close(done) }()
	b.Cleanup(func() { c.Close(); cancel(); <-done })
	details := []Field{Detail("a"), Detail("b")}

	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if err := c.RaiseFrom("sc", InternalError, details[i%2]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel-with-list", func(b *testing.B) {
		b.ReportAllocs()
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				if n.Add(1)%8 == 0 {
					_ = c.List()
					continue
				}
				if err := c.RaiseFrom("sc", InternalError, details[i%2]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
