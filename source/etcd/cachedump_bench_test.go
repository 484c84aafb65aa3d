package etcd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/servicecomb/servicecomb_exporter/config"
)

// benchDumpRSS (BenchmarkRegistry/dump/…) runs the real exporter binary
// against the registry and, once its first sync is done and it is idle,
// streams GET /v4/default/admin/dump?options=cache to the end, reading the
// exporter's resident set before (VmRSS, idle) and its peak during the dump
// (VmHWM, reset to the current RSS through /proc/PID/clear_refs just before
// the request). Baseline in the same run: the same keys read in-process with
// the same ranges and pages, decoding and writing nothing.
func benchDumpRSS(b *testing.B, c *clientv3.Client, cfg config.EtcdConfig, instances int) {
	bin := buildExporter(b)
	cfgFile := benchConfigFile(b, cfg)
	s, err := New(Options{Name: "bench", Config: cfg})
	if err != nil {
		b.Fatal(err)
	}
	var idleMiB, peakMiB, heapGrowth, dumpSeconds, rawSeconds, megabytes float64
	for i := 0; i < b.N; i++ {
		e := startSyncedExporter(b, bin, cfgFile)
		addr, cmd, stop := e.addr, e.cmd, e.stop
		idle := settledRSS(b, cmd.Process.Pid)
		idleHeap := heapInuse(addr)
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", cmd.Process.Pid), []byte("5"), 0); err != nil {
			stop()
			b.Fatalf("resetting the peak RSS: %v", err)
		}

		// The Go heap, sampled through /metrics while the dump runs.
		sampled := make(chan float64, 1)
		dumpDone := make(chan struct{})
		go func() {
			var peakHeap float64
			ticker := time.NewTicker(time.Second)
			defer ticker.Stop()
			for {
				select {
				case <-dumpDone:
					sampled <- peakHeap
					return
				case <-ticker.C:
					peakHeap = max(peakHeap, heapInuse(addr))
				}
			}
		}()
		start := time.Now()
		n, entries, err := streamDump("http://"+addr+"/v4/default/admin/dump?options=cache", []byte(`"key":"`+cfg.Prefix+`/inst/files/`))
		dumpSeconds = time.Since(start).Seconds()
		close(dumpDone)
		heapGrowth = (<-sampled - idleHeap) / (1 << 20)
		peak := procStatusKiB(b, cmd.Process.Pid, "VmHWM")
		stop()
		if err != nil {
			b.Fatal(err)
		}
		if entries != instances {
			b.Fatalf("dump of %d bytes listed %d instances, want %d", n, entries, instances)
		}

		t0 := time.Now()
		keys, err := rawPartsRead(context.Background(), s, c, s.dumpParts())
		if err != nil {
			b.Fatal(err)
		}
		rawSeconds = time.Since(t0).Seconds()
		if keys < instances {
			b.Fatalf("raw read %d keys, want at least %d", keys, instances)
		}
		idleMiB, peakMiB, megabytes = float64(idle)/1024, float64(peak)/1024, float64(n)/1e6
		b.Logf("%d instances: dump of %.0f MB in %.1fs (raw ranged read %.1fs); RSS idle %.1f MiB, peak during the dump %.1f MiB (%+.1f); Go heap in use %+.1f MiB",
			instances, megabytes, dumpSeconds, rawSeconds, idleMiB, peakMiB, peakMiB-idleMiB, heapGrowth)
	}
	b.ReportMetric(idleMiB, "idle-rss-MiB")
	b.ReportMetric(peakMiB, "dump-peak-rss-MiB")
	b.ReportMetric(peakMiB-idleMiB, "dump-rss-growth-MiB")
	b.ReportMetric(heapGrowth, "dump-heap-growth-MiB")
	b.ReportMetric(dumpSeconds, "dump-s")
	b.ReportMetric(rawSeconds, "raw-ranged-s")
	b.ReportMetric(dumpSeconds/rawSeconds, "dump/raw-ranged")
	b.ReportMetric(megabytes, "dump-MB")
}

// rawPartsRead reads parts with the lister, decoding nothing.
func rawPartsRead(ctx context.Context, s *Source, c *clientv3.Client, parts []listPart) (keys int, err error) {
	pages := make(chan page, 1)
	go func() {
		defer close(pages)
		l := lister{s: s, client: c, out: pages}
		l.fetchAll(ctx, parts)
	}()
	for p := range pages {
		if p.err != nil {
			err = p.err
		}
		keys += len(p.kvs)
	}
	return keys, err
}

// streamDump reads url to the end, counting bytes and the occurrences of
// pattern, holding one buffer.
func streamDump(url string, pattern []byte) (n int64, count int, err error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return 0, 0, fmt.Errorf("dump: %d %s", resp.StatusCode, body)
	}
	buf := make([]byte, 256<<10)
	keep := 0 // bytes kept from the previous read, for a match across reads
	for {
		m, err := resp.Body.Read(buf[keep:])
		n += int64(m)
		window := buf[:keep+m]
		count += bytes.Count(window, pattern)
		keep = min(len(pattern)-1, len(window))
		copy(buf, window[len(window)-keep:])
		if err == io.EOF {
			return n, count, nil
		}
		if err != nil {
			return n, count, fmt.Errorf("dump after %s bytes: %w", strconv.FormatInt(n, 10), err)
		}
	}
}

// settledRSS waits (at most 30 s) until the process's VmRSS stops moving
// after the sync, and returns it.
func settledRSS(b *testing.B, pid int) int64 {
	last := procStatusKiB(b, pid, "VmRSS")
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		time.Sleep(time.Second)
		now := procStatusKiB(b, pid, "VmRSS")
		if d := now - last; d > -256 && d < 256 {
			return now
		}
		last = now
	}
	return last
}

// heapInuse scrapes go_memstats_heap_inuse_bytes; 0 when it cannot.
func heapInuse(addr string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "go_memstats_heap_inuse_bytes "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}
