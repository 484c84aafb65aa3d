package forwarder

import (
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/servicecomb/servicecomb_exporter/alarm"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/amtest"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/wait"
)

// BenchmarkForwardToAlertmanager measures, against a local real
// Alertmanager:
//   - latency: from Raise returning to Alertmanager accepting the POST that
//     carries the change, one change at a time (p50, p99);
//   - capacity: changes offered at 10,000/s for 3 s across 500 alarms, every
//     one of which must be accepted, none dropped (a rate of acceptance
//     cannot exceed the rate offered, so it is not what proves capacity);
//   - the largest rate offered for 3 s at which nothing is dropped, found by
//     doubling and then halving the interval;
//   - offered as fast as Raise can go, which outruns any Alertmanager: the
//     queue then drops its oldest alerts (counted), and the rate at which
//     Alertmanager accepted them is its ceiling.
func BenchmarkForwardToAlertmanager(b *testing.B) {
	am := amtest.Start(b)
	b.Run("latency", func(b *testing.B) {
		acked := make(chan string, 1024)
		h := newHarnessWith(b, alertingConfig(time.Minute, am.URL), func(batch []*models.PostableAlert, err error) {
			if err != nil {
				b.Error(err)
			}
			for _, a := range batch {
				acked <- a.Annotations["description"]
			}
		})
		var lat []time.Duration
		for i := 0; i < b.N; i++ {
			for n := 0; n < 200; n++ {
				want := fmt.Sprintf("change %d/%d", i, n)
				start := time.Now()
				if err := h.center.Raise(alarm.BackendConnectionRefuse, alarm.Detail("%s", want)); err != nil {
					b.Fatal(err)
				}
				for got := <-acked; got != want; got = <-acked {
				}
				lat = append(lat, time.Since(start))
			}
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	})
	b.Run("offered-10k-per-s", func(b *testing.B) {
		l := newLoad(b, am)
		minRate := math.Inf(1)
		for i := 0; i < b.N; i++ {
			r := l.offer(10000)
			if !r.clean() {
				b.Fatalf("at 10,000/s offered: %s", r)
			}
			minRate = min(minRate, r.offeredRate())
		}
		// All accepted and none dropped (checked above) at this rate:
		b.ReportMetric(minRate, "offered/s")
		b.ReportMetric(0, "dropped")
	})
	b.Run("max-rate-without-drop", func(b *testing.B) {
		l := newLoad(b, am)
		var worst float64
		for i := 0; i < b.N; i++ {
			best := l.maxCleanRate()
			if i == 0 || best < worst {
				worst = best
			}
		}
		b.ReportMetric(worst, "offered/s")
	})
	b.Run("unpaced", func(b *testing.B) {
		l := newLoad(b, am)
		var perSecond float64
		for i := 0; i < b.N; i++ {
			r := l.offer(0)
			perSecond = float64(r.accepted) / r.elapsed.Seconds()
		}
		b.ReportMetric(perSecond, "accepted/s")
	})
}

// loadWindow is how long each load offers changes; loadAlarms is how many
// alarms they cycle through.
const (
	loadWindow = 3 * time.Second
	loadAlarms = 500
)

// load offers alarm changes to a forwarder sending to a real Alertmanager
// and accounts for each one: accepted by Alertmanager, failed, dropped from
// the queue, or dropped by the bus.
type load struct {
	b                *testing.B
	h                *harness
	url              string
	accepted, failed atomic.Int64
}

func newLoad(b *testing.B, am *amtest.Alertmanager) *load {
	l := &load{b: b, url: am.URL}
	l.h = newHarnessWith(b, alertingConfig(time.Hour, am.URL), func(batch []*models.PostableAlert, err error) {
		if err != nil {
			l.failed.Add(int64(len(batch)))
			return
		}
		l.accepted.Add(int64(len(batch)))
	})
	return l
}

// loadResult is one window's account.
type loadResult struct {
	rate                                                      int // asked for; 0: as fast as possible
	offered, accepted, failed, queueDropped, busDropped, lost int64
	offering, elapsed                                         time.Duration // offering the changes; until all were accounted for
}

func (r loadResult) offeredRate() float64 { return float64(r.offered) / r.offering.Seconds() }

// clean: every change offered was accepted, none dropped or failed.
func (r loadResult) clean() bool { return r.accepted == r.offered && r.lost == 0 }

func (r loadResult) String() string {
	return fmt.Sprintf("%d offered in %v (%.0f/s): %d accepted in %v, %d failed, %d dropped from the queue, %d dropped by the bus, %d unaccounted",
		r.offered, r.offering.Round(time.Millisecond), r.offeredRate(), r.accepted, r.elapsed.Round(time.Millisecond),
		r.failed, r.queueDropped, r.busDropped, r.lost-r.failed-r.queueDropped-r.busDropped)
}

func (l *load) dropped() (queue, bus int64) {
	queue = int64(testutil.ToFloat64(l.h.fwd.metrics.dropped.WithLabelValues(l.url)))
	for _, st := range l.h.bus.Stats() {
		bus += int64(st.Dropped)
	}
	return queue, bus
}

// offer offers changes at rate per second (0: as fast as Raise goes) for
// loadWindow, then waits until each is accounted for. Every counter is
// read as a difference from its value at the start, so that windows never
// mix.
func (l *load) offer(rate int) loadResult {
	accepted0, failed0 := l.accepted.Load(), l.failed.Load()
	queue0, bus0 := l.dropped()
	r := loadResult{rate: rate}
	start := time.Now()
	for time.Since(start) < loadWindow {
		if rate > 0 {
			due := start.Add(time.Duration(r.offered) * time.Second / time.Duration(rate))
			if wait := time.Until(due); wait > 0 {
				time.Sleep(wait) // pacing the load, not synchronisation
			}
		}
		if err := l.h.center.RaiseFrom(fmt.Sprintf("sc-%d", r.offered%loadAlarms), "Mirrored", alarm.Detail("%d", r.offered)); err != nil {
			l.b.Fatal(err)
		}
		r.offered++
	}
	r.offering = time.Since(start)
	account := func() int64 {
		queue, bus := l.dropped()
		r.accepted, r.failed = l.accepted.Load()-accepted0, l.failed.Load()-failed0
		r.queueDropped, r.busDropped = queue-queue0, bus-bus0
		r.lost = r.failed + r.queueDropped + r.busDropped
		return r.accepted + r.lost
	}
	wait.For(l.b, "every offered change accounted for", time.Minute, func() bool { return account() >= r.offered },
		wait.Every(time.Millisecond), wait.Detail(func() string { return fmt.Sprintf("%d of %d: %s", account(), r.offered, r) }))
	r.elapsed = time.Since(start)
	if n := account(); n != r.offered {
		l.b.Fatalf("%d changes accounted for, %d offered: %s", n, r.offered, r)
	}
	l.b.Logf("%s", r)
	return r
}

// maxCleanRate returns the largest rate offered for loadWindow at which
// every change is accepted and none dropped: doubling from 10,000/s to the
// first rate that drops, then halving the interval to within 5%.
func (l *load) maxCleanRate() float64 {
	good, bad := 0.0, 0
	for rate := 10000; bad == 0; rate *= 2 {
		r := l.offer(rate)
		if !r.clean() {
			bad = rate
			break
		}
		good = r.offeredRate()
		if good < 0.9*float64(rate) || rate >= 1<<20 {
			return good // Raise itself cannot offer more
		}
	}
	lo := bad / 2
	for bad-lo > lo/20 {
		mid := (lo + bad) / 2
		if r := l.offer(mid); r.clean() {
			lo, good = mid, r.offeredRate()
		} else {
			bad = mid
		}
	}
	l.b.Logf("largest clean rate %.0f/s (first dropping: %d/s)", good, bad)
	return good
}
