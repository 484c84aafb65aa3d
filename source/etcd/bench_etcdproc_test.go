package etcd

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/servicecomb/servicecomb_exporter/config"

	"github.com/servicecomb/servicecomb_exporter/internal/testutil/etcdproc"
	"github.com/servicecomb/servicecomb_exporter/registry"
)

// BenchmarkSyncEtcdProcess measures the initial sync against a separate etcd
// process, Debian's etcd binary on loopback (issue #11), with the registry
// shape of BenchmarkRegistry (1,000 domains, 100,000 services,
// BENCH_REGISTRY_INSTANCES instances, default 100000):
//
//	BENCH_REGISTRY_INSTANCES=100000 go test -run '^$' -bench SyncEtcdProcess -benchtime 3x -timeout 60m ./source/etcd
//
// (part of make bench-registry). Each iteration alternates, on one client
// built with the source's own settings (page size, receive limit), the
// sync first or last in turn:
//   - raw-per-domain-cN: the best raw read of the same keys: the domains,
//     projects and schema summaries prefixes, then each domain's services
//     and instances prefixes
//     paged through, N domains at a time, at one revision; keys counted,
//     values not decoded;
//   - raw-ranged: the source's own ranges and pages, decoding nothing;
//   - sync: the source's list, per-service counts on (the default).
//
// sync/best-raw is the sync's time over the fastest raw-per-domain variant's
// (target ≤ 1.2).
func BenchmarkSyncEtcdProcess(b *testing.B) {
	e := etcdproc.Start(b, etcdproc.Options{QuotaBytes: 8 << 30})
	c := e.Client()
	defer c.Close()
	for _, n := range benchSizes(b) {
		prefix := loadBenchRegistry(b, c, n)
		cfg := etcdConfig(e.Endpoint)
		cfg.Prefix = prefix
		cfg.RequestTimeout = benchRequestTimeout
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) { benchSyncProcess(b, cfg, n) })
	}
}

// benchRequestTimeout is generous: the machine is shared, and a slow page
// must not fail a benchmark.
const benchRequestTimeout = model.Duration(time.Minute)

// rawConcurrency are the numbers of domains the raw read pages at once.
var rawConcurrency = []int{1, 2, 4}

func benchSyncProcess(b *testing.B, cfg config.EtcdConfig, instances int) {
	s, err := New(Options{Name: "bench", Config: cfg, Rules: registry.Rules{ExcludeGlobal: true, PerService: true}})
	if err != nil {
		b.Fatal(err)
	}
	client, err := clientv3.New(s.clientCfg)
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	wantKeys := benchDomains*2 + benchServices + instances // one project a domain
	raw := make([]time.Duration, len(rawConcurrency))
	var ranged, synced time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var line strings.Builder
		// Each read starts from a collected heap, and the sync goes last
		// and first in turn, so that none inherits the others' garbage
		// or a warmer cache more often than the rest.
		rawReads := func() {
			for j, workers := range rawConcurrency {
				runtime.GC()
				t0 := time.Now()
				keys, inst, err := rawPerDomainRead(ctx, client, s.layout, s.opts.PageSize, workers,
					time.Duration(cfg.RequestTimeout))
				if err != nil {
					b.Fatal(err)
				}
				d := time.Since(t0)
				raw[j] += d
				if keys != wantKeys || inst != instances {
					b.Fatalf("raw read with %d workers: %d keys (%d instances), want %d (%d)", workers, keys, inst, wantKeys, instances)
				}
				fmt.Fprintf(&line, "raw-c%d %.2fs ", workers, d.Seconds())
			}
			runtime.GC()
			t1 := time.Now()
			keys, err := rawRangedRead(ctx, s, client)
			if err != nil {
				b.Fatal(err)
			}
			d := time.Since(t1)
			ranged += d
			if keys != wantKeys {
				b.Fatalf("raw ranged read: %d keys, want %d", keys, wantKeys)
			}
			fmt.Fprintf(&line, "raw-ranged %.2fs ", d.Seconds())
		}
		sync := func() {
			runtime.GC()
			t2 := time.Now()
			state, _, _, err := s.list(ctx, client)
			if err != nil {
				b.Fatal(err)
			}
			d := time.Since(t2)
			synced += d
			if got := total(state.Counts().Instances); got != int64(instances) {
				b.Fatalf("synced %d instances of %d", got, instances)
			}
			if got := len(state.ServiceCounts()); got != benchServices {
				b.Fatalf("%d per-service counts, want %d", got, benchServices)
			}
			fmt.Fprintf(&line, "sync %.2fs ", d.Seconds())
		}
		if i%2 == 0 {
			rawReads()
			sync()
		} else {
			sync()
			rawReads()
		}
		b.Logf("iteration %d: %s", i, line.String())
	}
	b.StopTimer()
	n := float64(b.N)
	best := raw[0]
	for j, d := range raw {
		b.ReportMetric(d.Seconds()/n, fmt.Sprintf("raw-per-domain-c%d-s/op", rawConcurrency[j]))
		best = min(best, d)
	}
	b.ReportMetric(ranged.Seconds()/n, "raw-ranged-s/op")
	b.ReportMetric(synced.Seconds()/n, "sync-s/op")
	b.ReportMetric(synced.Seconds()/best.Seconds(), "sync/best-raw")
	b.ReportMetric(synced.Seconds()/ranged.Seconds(), "sync/raw-ranged")
}

// rawPerDomainRead reads the registry's counted keys the plain way a
// client that knows the layout would: the domains, projects and schema
// summaries prefixes paged whole, then, for each domain found, its services
// prefix and its instances prefix paged through, workers domains at a
// time, all at the revision of the first page. Values are received, not decoded. It returns
// the keys read and, of those, the instance keys.
func rawPerDomainRead(ctx context.Context, c *clientv3.Client, layout registry.Layout, pageSize, workers int,
	timeout time.Duration) (keys, instances int, err error) {
	var rev int64
	var domains []string
	read := func(prefix string, each func(key []byte)) (int, error) {
		end := clientv3.GetPrefixRangeEnd(prefix)
		key, n := prefix, 0
		for {
			opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(int64(pageSize))}
			if rev != 0 {
				opts = append(opts, clientv3.WithRev(rev))
			}
			reqCtx, cancel := context.WithTimeout(ctx, timeout)
			resp, err := c.Get(reqCtx, key, opts...)
			cancel()
			if err != nil {
				return n, err
			}
			if rev == 0 {
				rev = resp.Header.Revision
			}
			n += len(resp.Kvs)
			if each != nil {
				for _, kv := range resp.Kvs {
					each(kv.Key)
				}
			}
			if !resp.More || len(resp.Kvs) == 0 {
				return n, nil
			}
			key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
		}
	}
	domainPrefix := layout.Prefix(registry.KindDomain)
	n, err := read(domainPrefix, func(key []byte) { domains = append(domains, strings.TrimPrefix(string(key), domainPrefix)) })
	if err != nil {
		return 0, 0, err
	}
	keys += n
	if n, err = read(layout.Prefix(registry.KindProject), nil); err != nil {
		return 0, 0, err
	}
	keys += n
	// Schema summaries (none in this registry) are read whole as well.
	if n, err = read(layout.Prefix(registry.KindSchema), nil); err != nil {
		return 0, 0, err
	}
	keys += n

	// rev is set from here on: the workers only read it.
	next := make(chan string)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for domain := range next {
				svc, err := read(layout.Prefix(registry.KindService)+domain+"/", nil)
				inst := 0
				if err == nil {
					inst, err = read(layout.Prefix(registry.KindInstance)+domain+"/", nil)
				}
				mu.Lock()
				keys += svc + inst
				instances += inst
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	for _, d := range domains {
		next <- d
	}
	close(next)
	wg.Wait()
	return keys, instances, firstErr
}
