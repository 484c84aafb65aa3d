package etcd

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/servicecomb/servicecomb_exporter/config"
	"github.com/servicecomb/servicecomb_exporter/internal/embedetcd"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/loopback"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/registrytest"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/wait"
	"github.com/servicecomb/servicecomb_exporter/registry"
)

// The registry benchmarks (make bench-registry) load registries of 1,000
// domains and 100,000 services with BENCH_REGISTRY_INSTANCES instances each
// (default 100000; make bench-registry uses 100000,1000000) into one
// embedded etcd, under one prefix per size, then measure:
//   - sync: the source's initial list (per-service counts on, as by
//     default, and off: sync/per-service-off) against raw paged reads of the same
//     keys with the etcd client, in the same run: the same ranges and pages
//     as the source without decoding (sync/raw-ranged, the cost of decoding
//     and counting), and each prefix paged whole (sync/raw-whole-prefix,
//     which also shows what the ranges save);
//   - rss: the peak RSS of a real exporter process after its first sync;
//   - dump: that process's RSS while it streams the registry through the
//     dump API's cache option (cachedump_bench_test.go);
//   - watch-replay: events applied per second when the watch replays a
//     backlog from etcd's history;
//   - watch-lag: lag from write to gauge under 5,000 events/s of churn.

const (
	benchDomains  = 1000
	benchServices = 100000
)

func benchSizes(b *testing.B) []int {
	raw := os.Getenv("BENCH_REGISTRY_INSTANCES")
	if raw == "" {
		raw = "100000"
	}
	var sizes []int
	for _, f := range strings.Split(raw, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			b.Fatalf("BENCH_REGISTRY_INSTANCES: bad size %q", f)
		}
		sizes = append(sizes, n)
	}
	return sizes
}

func BenchmarkRegistry(b *testing.B) {
	server, err := embedetcd.Start(embedetcd.Options{Dir: b.TempDir(), Quiet: true, NoFsync: true, QuotaBytes: 16 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer server.Close()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{server.Endpoint}, DialTimeout: 5 * time.Second,
		MaxCallRecvMsgSize: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()

	for _, n := range benchSizes(b) {
		prefix := loadBenchRegistry(b, c, n)
		cfg := etcdConfig(server.Endpoint)
		cfg.Prefix = prefix
		b.Run(fmt.Sprintf("sync/instances=%d", n), func(b *testing.B) { benchSync(b, c, cfg, n) })
		b.Run(fmt.Sprintf("rss/instances=%d", n), func(b *testing.B) { benchRSS(b, cfg, n) })
		b.Run(fmt.Sprintf("dump/instances=%d", n), func(b *testing.B) { benchDumpRSS(b, c, cfg, n) })
	}
	b.Run("watch-replay", func(b *testing.B) { benchWatchReplay(b, c, server.Endpoint) })
	b.Run("watch-lag", func(b *testing.B) { benchWatchLag(b, c, server.Endpoint) })
}

// loadBenchRegistry writes the benchmark registry of n instances under its
// own prefix, which it returns.
func loadBenchRegistry(b *testing.B, c *clientv3.Client, n int) string {
	prefix := fmt.Sprintf("/bench-%d", n)
	start := time.Now()
	if err := registrytest.Populate(context.Background(), c, registrytest.Shape{
		Prefix: prefix, Domains: benchDomains, Services: benchServices, Instances: n}); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d instances under %s in %v", n, prefix, time.Since(start).Round(time.Millisecond))
	return prefix
}

// rawRangedRead reads every counted prefix in the same ranges and pages as
// the source, as many at once, at one revision, decoding nothing: the floor
// for a sync.
func rawRangedRead(ctx context.Context, s *Source, c *clientv3.Client) (keys int, err error) {
	pages := make(chan page, 1)
	go func() {
		defer close(pages)
		l := lister{s: s, client: c, out: pages, workers: listWorkers}
		l.fetchAll(ctx, s.countedParts())
	}()
	for p := range pages {
		if p.err != nil {
			err = p.err
		}
		keys += len(p.kvs)
	}
	return keys, err
}

// rawRead pages through each whole prefix, the obvious way to read it.
func rawRead(ctx context.Context, c *clientv3.Client, layout registry.Layout, pageSize int) (keys int, err error) {
	var rev int64
	for _, kind := range registry.ListOrder {
		prefix := layout.Prefix(kind)
		end := clientv3.GetPrefixRangeEnd(prefix)
		key := prefix
		for {
			opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(int64(pageSize))}
			if rev != 0 {
				opts = append(opts, clientv3.WithRev(rev))
			}
			resp, err := c.Get(ctx, key, opts...)
			if err != nil {
				return 0, err
			}
			if rev == 0 {
				rev = resp.Header.Revision
			}
			keys += len(resp.Kvs)
			if !resp.More || len(resp.Kvs) == 0 {
				break
			}
			key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
		}
	}
	return keys, nil
}

func benchSync(b *testing.B, c *clientv3.Client, cfg config.EtcdConfig, instances int) {
	s, err := New(Options{Name: "bench", Config: cfg, Rules: registry.Rules{ExcludeGlobal: true, PerService: true}})
	if err != nil {
		b.Fatal(err)
	}
	off, err := New(Options{Name: "bench", Config: cfg, Rules: registry.Rules{ExcludeGlobal: true}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var raw, ranged, synced, syncedOff time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Alternate the three so that they see the same cache state.
		t0 := time.Now()
		keys, err := rawRead(ctx, c, s.layout, s.opts.PageSize)
		if err != nil {
			b.Fatal(err)
		}
		raw += time.Since(t0)
		t1 := time.Now()
		rangedKeys, err := rawRangedRead(ctx, s, c)
		if err != nil {
			b.Fatal(err)
		}
		ranged += time.Since(t1)
		t2 := time.Now()
		state, _, _, err := s.list(ctx, c)
		if err != nil {
			b.Fatal(err)
		}
		synced += time.Since(t2)
		if got := total(state.Counts().Instances); got != int64(instances) || keys < instances || rangedKeys != keys {
			b.Fatalf("synced %d instances of %d (%d keys read raw, %d ranged)", got, instances, keys, rangedKeys)
		}
		if got := len(state.ServiceCounts()); got == 0 {
			b.Fatal("no per-service counts with per-service metrics on")
		}
		t3 := time.Now()
		stateOff, _, _, err := off.list(ctx, c)
		if err != nil {
			b.Fatal(err)
		}
		syncedOff += time.Since(t3)
		if got := total(stateOff.Counts().Instances); got != int64(instances) || len(stateOff.ServiceCounts()) != 0 {
			b.Fatalf("per-service off: synced %d instances of %d, %d per-service counts", got, instances, len(stateOff.ServiceCounts()))
		}
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(raw.Seconds()/n, "raw-whole-prefix-s/op")
	b.ReportMetric(ranged.Seconds()/n, "raw-ranged-s/op")
	b.ReportMetric(synced.Seconds()/n, "sync-s/op")
	b.ReportMetric(synced.Seconds()/ranged.Seconds(), "sync/raw-ranged")
	b.ReportMetric(synced.Seconds()/raw.Seconds(), "sync/raw-whole-prefix")
	b.ReportMetric(synced.Seconds()/syncedOff.Seconds(), "sync/per-service-off")
}

// benchRSS runs the real exporter binary against the registry and reads
// its peak resident set size once the first sync is done.
func benchRSS(b *testing.B, cfg config.EtcdConfig, instances int) {
	bin := buildExporter(b)
	cfgFile := benchConfigFile(b, cfg)
	var peakMiB, syncSeconds float64
	for i := 0; i < b.N; i++ {
		e := startSyncedExporter(b, bin, cfgFile)
		syncSeconds = e.synced.Seconds()
		peakMiB = float64(procStatusKiB(b, e.cmd.Process.Pid, "VmHWM")) / 1024
		e.stop()
	}
	b.ReportMetric(peakMiB, "peak-rss-MiB")
	b.ReportMetric(syncSeconds, "exporter-sync-s")
	b.Logf("exporter peak RSS %.1f MiB after syncing %d instances in %.1fs", peakMiB, instances, syncSeconds)
}

// benchConfigFile writes the exporter's configuration for the source
// "bench" on cfg's first endpoint and prefix.
func benchConfigFile(b *testing.B, cfg config.EtcdConfig) string {
	cfgFile := filepath.Join(b.TempDir(), "config.yml")
	content := fmt.Sprintf("sources:\n  - name: bench\n    etcd:\n      endpoints: [%s]\n      prefix: %s\n      request_timeout: 60s\n",
		cfg.Endpoints[0], cfg.Prefix)
	if err := os.WriteFile(cfgFile, []byte(content), 0o600); err != nil {
		b.Fatal(err)
	}
	return cfgFile
}

// syncedExporter is the exporter binary running on a loopback port after
// its first successful sync.
type syncedExporter struct {
	addr   string
	cmd    *exec.Cmd
	synced time.Duration // from start to the first sync seen in /metrics
	stop   func()        // interrupts it and waits for it to exit
}

// startSyncedExporter starts bin with cfgFile and waits (at most 10
// minutes) until /metrics counts its first successful sync. The process
// is stopped at the end of the benchmark if the caller has not done so.
func startSyncedExporter(b *testing.B, bin, cfgFile string) *syncedExporter {
	addr := loopback.FreeAddress(b)
	cmd := exec.Command(bin, "--config.file", cfgFile, "--web.listen-address", addr, "--log.level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	var once sync.Once
	e := &syncedExporter{addr: addr, cmd: cmd, stop: func() {
		once.Do(func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() })
	}}
	b.Cleanup(e.stop)
	start := time.Now()
	metric := `servicecomb_registry_syncs_total{result="success",source="bench"} 1`
	wait.For(b, "the exporter's first sync", 10*time.Minute, func() bool { return scrapeContains(addr, metric) },
		wait.Every(100*time.Millisecond))
	e.synced = time.Since(start)
	return e
}

func scrapeContains(addr, s string) bool {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(body), s)
}

func procStatusKiB(b *testing.B, pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

func buildExporter(b *testing.B) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "exporter-bench")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "servicecomb_exporter")
		out, err := exec.Command("go", "build", "-o", builtBin, "../../cmd/exporter").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return builtBin
}

// updateStatuses rewrites n instance statuses under prefix in transactions,
// returning the revision of the last write.
func updateStatuses(ctx context.Context, c *clientv3.Client, layout registry.Layout, n int) (int64, error) {
	var ops []clientv3.Op
	var rev int64
	for i := 0; i < n; i++ {
		key := layout.InstanceKey("tenant-0000", "default", fmt.Sprintf("%040x", i%500), fmt.Sprintf("%032x", i%500))
		status := registry.InstanceStatuses[i%len(registry.InstanceStatuses)]
		ops = append(ops, clientv3.OpPut(key, fmt.Sprintf(`{"instanceId":"x","status":%q}`, status)))
		if len(ops) == 128 || i == n-1 {
			resp, err := c.Txn(ctx).Then(ops...).Commit()
			if err != nil {
				return 0, err
			}
			rev = resp.Header.Revision
			ops = ops[:0]
		}
	}
	return rev, nil
}

// benchWatchReplay measures how fast the source applies watch events: the
// backlog is written between the list and the watch, so the watch replays
// it from etcd's history as fast as the source can take it.
func benchWatchReplay(b *testing.B, c *clientv3.Client, endpoint string) {
	const events = 200000
	cfg := etcdConfig(endpoint)
	cfg.Prefix = "/bench-watch"
	layout := registry.NewLayout(cfg.Prefix)
	if _, err := updateStatuses(context.Background(), c, layout, 500); err != nil { // the instances exist
		b.Fatal(err)
	}
	var perSecond float64
	for i := 0; i < b.N; i++ {
		var finalRev int64
		var watchStart time.Time
		caughtUp := make(chan time.Time, 1)
		s, err := New(Options{Name: "bench", Config: cfg, Rules: registry.Rules{PerService: true}, hooks: hooks{
			afterList: func(int64) {
				var err error
				if finalRev, err = updateStatuses(context.Background(), c, layout, events); err != nil {
					b.Error(err)
				}
				watchStart = time.Now()
			},
			afterApply: func(rev int64) {
				if rev >= finalRev && finalRev != 0 {
					select {
					case caughtUp <- time.Now():
					default:
					}
				}
			},
		}})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = s.Run(ctx); close(done) }()
		end := <-caughtUp
		cancel()
		<-done
		perSecond = events / end.Sub(watchStart).Seconds()
		if got := s.Snapshot().WatchEvents[registry.WatchEvent{Kind: "instance", Type: "PUT"}]; got < events {
			b.Fatalf("applied %d of %d events", got, events)
		}
	}
	b.ReportMetric(perSecond, "events/s")
}

// benchWatchLag writes 5,000 status changes a second for 10 seconds from
// four writers and measures, per change, the time from issuing the write to
// the source having applied it.
func benchWatchLag(b *testing.B, c *clientv3.Client, endpoint string) {
	const rate, seconds, writers = 5000, 10, 4
	cfg := etcdConfig(endpoint)
	cfg.Prefix = "/bench-lag"
	layout := registry.NewLayout(cfg.Prefix)
	if _, err := updateStatuses(context.Background(), c, layout, 500); err != nil {
		b.Fatal(err)
	}
	var p50, p99, worst time.Duration
	for i := 0; i < b.N; i++ {
		var mu sync.Mutex
		sent := map[int64]time.Time{}    // revision → when its write was issued
		applied := map[int64]time.Time{} // revision → when the source applied it
		s, err := New(Options{Name: "bench", Config: cfg, Rules: registry.Rules{PerService: true}, hooks: hooks{afterApply: func(rev int64) {
			now := time.Now()
			mu.Lock()
			applied[rev] = now
			mu.Unlock()
		}}})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = s.Run(ctx); close(done) }()
		wait.For(b, "sync", time.Minute, func() bool { return s.Snapshot().Synced })

		var wg sync.WaitGroup
		interval := time.Second * writers / rate
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ticker := time.NewTicker(interval)
				defer ticker.Stop()
				for n := 0; n < rate*seconds/writers; n++ {
					<-ticker.C
					key := layout.InstanceKey("tenant-0000", "default", fmt.Sprintf("%040x", n%500), fmt.Sprintf("%032x", n%500))
					issued := time.Now()
					resp, err := c.Put(context.Background(), key,
						fmt.Sprintf(`{"status":%q}`, registry.InstanceStatuses[n%len(registry.InstanceStatuses)]))
					if err != nil {
						b.Error(err)
						return
					}
					mu.Lock()
					sent[resp.Header.Revision] = issued
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		var last int64
		mu.Lock()
		for rev := range sent {
			last = max(last, rev)
		}
		mu.Unlock()
		wait.For(b, "last change applied", time.Minute, func() bool { return s.Snapshot().Revision >= last })
		cancel()
		<-done

		// A response applies several revisions at once: each revision's
		// lag ends at the first apply at or after it.
		mu.Lock()
		appliedRevs := make([]int64, 0, len(applied))
		for rev := range applied {
			appliedRevs = append(appliedRevs, rev)
		}
		slices.Sort(appliedRevs)
		var lags []time.Duration
		for rev, issued := range sent {
			j, _ := slices.BinarySearch(appliedRevs, rev)
			if j == len(appliedRevs) {
				b.Fatalf("revision %d never applied", rev)
			}
			lags = append(lags, applied[appliedRevs[j]].Sub(issued))
		}
		mu.Unlock()
		slices.Sort(lags)
		p50, p99, worst = lags[len(lags)/2], lags[len(lags)*99/100], lags[len(lags)-1]
		b.Logf("%d changes at %d/s: lag p50 %v p99 %v max %v", len(lags), rate, p50, p99, worst)
	}
	b.ReportMetric(float64(p50.Microseconds())/1000, "lag-p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "lag-p99-ms")
	b.ReportMetric(float64(worst.Microseconds())/1000, "lag-max-ms")
}
