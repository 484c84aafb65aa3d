package forwarder

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/servicecomb/servicecomb_exporter/alarm"
	"github.com/servicecomb/servicecomb_exporter/internal/amtest"
)

// BenchmarkForwardToAlertmanager measures, against a local real
// Alertmanager:
//   - latency: from Raise returning to Alertmanager accepting the POST that
//     carries the change, one change at a time (p50, p99);
//   - throughput: changes offered at 10,000/s for 3 s across 500 alarms,
//     every one of which must be accepted with none dropped, and the rate
//     of acceptance; then offered as fast as Raise can go, which outruns
//     any Alertmanager: the queue then drops its oldest alerts (counted),
//     and the rate at which Alertmanager accepted batches is the ceiling.
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
	b.Run("throughput-offered-10k-per-s", func(b *testing.B) { benchThroughput(b, am, 10000) })
	b.Run("throughput-unpaced", func(b *testing.B) { benchThroughput(b, am, 0) })
}

// benchThroughput offers changes at rate per second (0: as fast as
// possible) for 3 s and waits until Alertmanager has accepted them all.
func benchThroughput(b *testing.B, am *amtest.Alertmanager, rate int) {
	const alarms, duration = 500, 3 * time.Second
	var accepted, failed atomic.Int64
	cfg := alertingConfig(time.Hour, am.URL)
	h := newHarnessWith(b, cfg, func(batch []*models.PostableAlert, err error) {
		if err != nil {
			failed.Add(int64(len(batch)))
			return
		}
		accepted.Add(int64(len(batch)))
	})
	var perSecond float64
	for i := 0; i < b.N; i++ {
		accepted.Store(0)
		start := time.Now()
		offered := 0
		for time.Since(start) < duration {
			if rate > 0 {
				due := start.Add(time.Duration(offered) * time.Second / time.Duration(rate))
				if wait := time.Until(due); wait > 0 {
					time.Sleep(wait) // pacing the load, not synchronisation
				}
			}
			if err := h.center.RaiseFrom(fmt.Sprintf("sc-%d", offered%alarms), "Mirrored", alarm.Detail("%d", offered)); err != nil {
				b.Fatal(err)
			}
			offered++
		}
		dropped := func() int64 { return int64(testutil.ToFloat64(h.fwd.metrics.dropped.WithLabelValues(am.URL))) }
		deadline := time.Now().Add(time.Minute)
		for accepted.Load()+dropped() < int64(offered) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		elapsed := time.Since(start)
		if rate > 0 && (accepted.Load() < int64(offered) || dropped() != 0) {
			b.Fatalf("Alertmanager accepted %d of %d changes (%d failed, %d dropped)", accepted.Load(), offered, failed.Load(), dropped())
		}
		perSecond = float64(accepted.Load()) / elapsed.Seconds()
		b.Logf("offered %d changes in %v: %d accepted in %v, %d dropped from the queue, %d failed",
			offered, duration, accepted.Load(), elapsed.Round(time.Millisecond), dropped(), failed.Load())
	}
	b.ReportMetric(perSecond, "accepted/s")
}
