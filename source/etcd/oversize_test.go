package etcd

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/servicecomb/servicecomb_exporter/internal/embedetcd"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/registrytest"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/wait"
	"github.com/servicecomb/servicecomb_exporter/registry"
)

// TestOversizedValuesKeepPagesBounded: values far larger than Service
// Center's documents must not make a page of the list large. With a receive
// limit of 256 KiB, pages of 100 KB values are halved until they fit, a
// value larger than the limit on its own is skipped and counted as a decode
// error, and every other key is still counted exactly.
func TestOversizedValuesKeepPagesBounded(t *testing.T) {
	server := registrytest.StartEtcd(t, embedetcd.Options{})
	c := registrytest.Client(t, server.Endpoint)
	w := registrytest.NewWorld(t, c, 13)
	const limit = 256 << 10
	pad := func(n int) string { return strings.Repeat("x", n) }
	w.Put(prefix+"/domains/a", pad(300<<10)) // the very first key, over the limit: the list starts with a skip
	w.Put(prefix+"/domains/d", "")
	w.Put(prefix+"/projects/d/p", "")
	w.Put(prefix+"/ms/files/d/p/svc1", `{"appId":"a"}`)
	w.Put(prefix+"/ms/files/d/p/svc9", `{"appId":"a","pad":"`+pad(300<<10)+`"}`) // a service over the limit
	for i := 0; i < 120; i++ {
		key := fmt.Sprintf("%s/inst/files/d/p/svc1/i%03d", prefix, i)
		switch {
		case i%10 == 3: // larger than MaxValueSize and than the receive limit
			w.Put(key, `{"status":"UP","pad":"`+pad(300<<10)+`"}`)
		case i%4 == 1: // large but valid: counted (24 of them)
			w.Put(key, `{"status":"DOWN","pad":"`+pad(100<<10)+`"}`)
		default:
			w.Put(key, `{"status":"UP"}`)
		}
	}
	var mu sync.Mutex
	largest := 0
	s, _ := runSource(t, etcdConfig(server.Endpoint), func(o *Options) {
		o.PageSize = 50
		o.MaxPageBytes = limit // New sets the client's receive limit to it
		o.hooks.onPage = func(bytes int) {
			mu.Lock()
			defer mu.Unlock()
			largest = max(largest, bytes)
		}
	})
	wait.For(t, "sync", 20*time.Second, func() bool { return s.Snapshot().Synced })
	snap := s.Snapshot()
	want := map[registry.InstanceGroup]int64{{Domain: "d", Project: "p", Status: "UP"}: 84, {Domain: "d", Project: "p", Status: "DOWN"}: 24}
	if fmt.Sprint(snap.Counts.Instances) != fmt.Sprint(want) {
		t.Errorf("instances %v, want %v", snap.Counts.Instances, want)
	}
	if len(snap.Counts.Services) != 1 {
		t.Errorf("services %v, want svc1 alone", snap.Counts.Services)
	}
	if snap.DecodeErrors["instance"] != 12 || snap.DecodeErrors["service"] != 1 || snap.DecodeErrors["domain"] != 0 {
		t.Errorf("decode errors %v, want 12 instances and 1 service", snap.DecodeErrors)
	}
	if len(snap.Counts.Domains) != 2 { // a domain is counted by its key, whatever its value
		t.Errorf("domains %v, want a and d", snap.Counts.Domains)
	}
	// Through the watch: an event over the limit breaks the watch stream,
	// which makes the source list again, skipping the value as above.
	w.Put(prefix+"/inst/files/d/p/svc1/j1", `{"status":"UP","pad":"`+pad(300<<10)+`"}`)
	w.Put(prefix+"/inst/files/d/p/svc1/j2", `{"status":"UP"}`)
	wait.For(t, "the watched oversized value skipped", 20*time.Second, func() bool {
		return s.Snapshot().Counts.Instances[registry.InstanceGroup{Domain: "d", Project: "p", Status: "UP"}] == 85
	})
	// decode_errors_total counts every skip: the 12 of the first list, then
	// the same 12 and the new one in the second.
	if snap := s.Snapshot(); snap.Syncs["success"] != 2 || snap.DecodeErrors["instance"] != 25 {
		t.Errorf("after the oversized watch event: %d lists, %d instance decode errors; want 2 and 25", snap.Syncs["success"], snap.DecodeErrors["instance"])
	}

	// The list's first response was the skip of /domains/a: it must still
	// identify the etcd, or every probe would take it for another one.
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{server.Endpoint}, MaxCallRecvMsgSize: limit})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, _, from, err := s.list(context.Background(), client); err != nil || from.clusterID == 0 {
		t.Errorf("list: origin %+v, error %v; want the etcd's cluster id", from, err)
	}
	// The cache dump reads through the same bounded pages, leaving the
	// oversized values out.
	var dump bytes.Buffer
	if err := s.DumpCache(context.Background(), &dump); err != nil {
		t.Fatalf("cache dump: %v", err)
	}
	if n := strings.Count(dump.String(), `"status":"DOWN"`); n != 24 || !strings.Contains(dump.String(), "svc1/i001") ||
		strings.Contains(dump.String(), "svc1/i003") || strings.Contains(dump.String(), "svc1/j1") {
		t.Errorf("cache dump holds %d of the 24 large valid instances, or oversized i003 or j1", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if largest == 0 || largest > limit {
		t.Errorf("largest page held %d bytes of keys and values, want at most the %d-byte limit", largest, limit)
	}
}
