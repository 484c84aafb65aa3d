package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/servicecomb/servicecomb_exporter/internal/testutil/etcdproc"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/registrytest"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/wait"
)

// BenchmarkOversizedValuesPeakRSS measures the exporter's peak RSS while it
// lists a registry of 1,000 services and 10,000 instances, first as it is
// (the baseline), then with 100 more instance values of 5 MB each, far over
// the 256 KiB a registry value may have. The target: at most 128 MiB with the
// oversized values, every other key counted and the 100 counted as decode
// errors. It runs the real binaries (Debian's etcd); one iteration is
// enough: go test -run '^$' -bench OversizedValues -benchtime 1x ./e2e
func BenchmarkOversizedValuesPeakRSS(b *testing.B) {
	const (
		bigValues = 100
		bigSize   = 5 << 20
		target    = 128 << 20
	)
	exporter, _ := binaries(b)
	etcd := etcdproc.Start(b, etcdproc.Options{MaxRequestBytes: bigSize + 1<<20})
	c := etcd.Client()
	defer c.Close()
	ctx := context.Background()
	if err := registrytest.Populate(ctx, c, registrytest.Shape{Prefix: registrytest.Prefix, Domains: 10, Services: 1000, Instances: 10000}); err != nil {
		b.Fatal(err)
	}

	measure := func(wantDecodeErrors float64) int64 {
		e := startExporterBinary(b, exporter, etcdSourceConfig(etcd.Endpoint))
		defer e.stop()
		wait.For(b, "a full sync", 2*time.Minute, func() bool {
			return e.metric(`servicecomb_registry_syncs_total{result="success",source="main"}`) >= 1
		}, e2ePoll)
		if got := e.sum("servicecomb_registry_instances"); got != 10000 {
			b.Errorf("%v instances counted, want 10000", got)
		}
		if got := e.sum("servicecomb_registry_decode_errors_total", `kind="instance"`); got != wantDecodeErrors {
			b.Errorf("%v instance decode errors, want %v", got, wantDecodeErrors)
		}
		return peakRSS(b, e.cmd.Process.Pid)
	}
	b.ResetTimer()
	baseline := measure(0)

	pad := strings.Repeat("x", bigSize)
	for i := 0; i < bigValues; i++ {
		key := fmt.Sprintf("%s/inst/files/oversized/p/s/i%03d", registrytest.Prefix, i)
		if _, err := c.Put(ctx, key, `{"status":"UP","pad":"`+pad+`"}`); err != nil {
			b.Fatal(err)
		}
	}
	oversized := measure(bigValues)

	b.ReportMetric(float64(baseline)/(1<<20), "baseline-peak-MiB")
	b.ReportMetric(float64(oversized)/(1<<20), "peak-MiB")
	b.ReportMetric(float64(oversized)/float64(baseline), "ratio")
	if oversized > target {
		b.Errorf("peak RSS %d MiB with %d values of %d MiB, want at most %d MiB", oversized>>20, bigValues, bigSize>>20, target>>20)
	}
}
