package etcd

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/servicecomb/servicecomb_exporter/internal/embedetcd"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/registrytest"
)

// dumpEntry is one entry of a cache dump, decoded for comparison.
type dumpEntry struct {
	Key     string `json:"key"`
	Rev     int64  `json:"rev"`
	Cluster string `json:"cluster"`
	Value   any    `json:"value"`
}

// decodeCache decodes a cache dump strictly: valid JSON, nothing but the
// four members of Service Center's cache, entries sorted by key.
func decodeCache(t *testing.T, data []byte) map[string][]dumpEntry {
	t.Helper()
	var cache map[string][]dumpEntry
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cache); err != nil {
		t.Fatalf("cache dump is not the expected JSON: %v\n%.500s", err, data)
	}
	if dec.More() {
		t.Fatalf("data after the cache dump: %.500s", data)
	}
	for name, entries := range cache {
		if !slices.Contains([]string{"services", "serviceIndexes", "serviceAliases", "instances"}, name) {
			t.Errorf("cache member %q, which Service Center does not have", name)
		}
		if len(entries) == 0 {
			t.Errorf("empty cache member %q: Service Center leaves it out", name)
		}
		slices.SortFunc(entries, func(a, b dumpEntry) int { return strings.Compare(a.Key, b.Key) })
	}
	return cache
}

func dumpOf(t *testing.T, s *Source) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := s.DumpCache(context.Background(), &buf); err != nil {
		t.Fatalf("DumpCache: %v", err)
	}
	return buf.Bytes()
}

// loadRecorded writes the keys and values recorded from a real Service
// Center's etcd with a plain client, each at the revision it had there
// (filler writes outside the registry take up the revisions between).
func loadRecorded(t *testing.T, c *clientv3.Client, file string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var recorded struct {
		KVs []struct {
			Key, Value  string
			ModRevision int64 `json:"mod_revision"`
		} `json:"kvs"`
	}
	if err := json.Unmarshal(data, &recorded); err != nil {
		t.Fatal(err)
	}
	byRev := map[int64][]clientv3.Op{}
	var revs []int64
	for _, kv := range recorded.KVs {
		key, err1 := base64.StdEncoding.DecodeString(kv.Key)
		value, err2 := base64.StdEncoding.DecodeString(kv.Value)
		if err1 != nil || err2 != nil {
			t.Fatalf("recorded key %q: %v %v", kv.Key, err1, err2)
		}
		if _, ok := byRev[kv.ModRevision]; !ok {
			revs = append(revs, kv.ModRevision)
		}
		byRev[kv.ModRevision] = append(byRev[kv.ModRevision], clientv3.OpPut(string(key), string(value)))
	}
	slices.Sort(revs)
	ctx := context.Background()
	resp, err := c.Get(ctx, "/filler")
	if err != nil {
		t.Fatal(err)
	}
	current := resp.Header.Revision
	for _, rev := range revs {
		for ; current+1 < rev; current++ {
			if _, err := c.Put(ctx, "/filler", "x"); err != nil {
				t.Fatal(err)
			}
		}
		txn, err := c.Txn(ctx).Then(byRev[rev]...).Commit()
		if err != nil {
			t.Fatal(err)
		}
		if current = txn.Header.Revision; current != rev {
			t.Fatalf("wrote revision %d, want %d", current, rev)
		}
	}
}

// TestDumpCacheMatchesServiceCenter: for the registry recorded from a real
// Service Center, written into a real etcd at the same revisions, the dump
// equals Service Center's own dump of it, entry for entry.
func TestDumpCacheMatchesServiceCenter(t *testing.T) {
	server := registrytest.StartEtcd(t, embedetcd.Options{})
	c := registrytest.Client(t, server.Endpoint)
	loadRecorded(t, c, "testdata/01-register/etcd_cse-sr_full.json")
	want, err := os.ReadFile("testdata/01-register/dump_cache.json")
	if err != nil {
		t.Fatal(err)
	}
	var recorded struct {
		Cache json.RawMessage `json:"cache"`
	}
	if err := json.Unmarshal(want, &recorded); err != nil {
		t.Fatal(err)
	}
	for _, tuning := range []struct{ pageSize, servicesPerRange int }{{0, 0}, {1, 1}, {3, 2}} {
		t.Run(fmt.Sprintf("page=%d,services-per-range=%d", tuning.pageSize, tuning.servicesPerRange), func(t *testing.T) {
			// Service Center's etcd cluster is named "default".
			s, err := New(Options{Name: "default", Config: etcdConfig(server.Endpoint),
				PageSize: tuning.pageSize, ServicesPerRange: tuning.servicesPerRange})
			if err != nil {
				t.Fatal(err)
			}
			got := dumpOf(t, s)
			if g, w := decodeCache(t, got), decodeCache(t, recorded.Cache); !reflect.DeepEqual(g, w) {
				t.Errorf("dump differs from Service Center's:\n got %v\nwant %v", g, w)
			}
			// Service Center's member order.
			order := []int{strings.Index(string(got), `"services":`), strings.Index(string(got), `"serviceIndexes":`),
				strings.Index(string(got), `"serviceAliases":`), strings.Index(string(got), `"instances":`)}
			if !slices.IsSorted(order) || order[0] != 1 {
				t.Errorf("members out of Service Center's order: %v", order)
			}
		})
	}
}

// TestDumpCacheListsTheWholeRegistry: through ranges and pages much smaller
// than the registry, every service, index, alias and instance key is dumped
// exactly once with its value and mod revision; values that are not JSON
// objects are left out; other keys are not dumped.
func TestDumpCacheListsTheWholeRegistry(t *testing.T) {
	server := registrytest.StartEtcd(t, embedetcd.Options{})
	c := registrytest.Client(t, server.Endpoint)
	w := registrytest.NewWorld(t, c, 16)
	for i := 0; i < 30; i++ {
		w.AddService()
	}
	for i := 0; i < 300; i++ {
		w.AddInstance()
	}
	for i := 0; i < 50; i++ {
		w.ChangeStatus()
		w.DeleteInstance()
	}
	w.Put(prefix+"/ms/indexes/d/p/development/app/name/1.0.0", "svc\"1\n")
	w.Put(prefix+"/ms/alias/d/p/development/app/alias/1.0.0", "svc\xff")
	w.Put(prefix+"/ms/files/d/p/not-an-object", `["x"]`)
	w.Put(prefix+"/ms/tags/d/p/svc", `{"a":"b"}`) // not part of the cache

	var logs bytes.Buffer
	s, err := New(Options{Name: "main", Config: etcdConfig(server.Endpoint), PageSize: 7, ServicesPerRange: 2,
		Logger: log.NewLogfmtLogger(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	got := decodeCache(t, dumpOf(t, s))

	resp, err := c.Get(context.Background(), prefix+"/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]dumpEntry{}
	skipped := 0
	for _, kv := range resp.Kvs {
		key := string(kv.Key)
		var member string
		var value any = string(bytes.ToValidUTF8(kv.Value, []byte("\uFFFD")))
		switch {
		case strings.HasPrefix(key, prefix+"/ms/files/"), strings.HasPrefix(key, prefix+"/inst/files/"):
			member = "services"
			if strings.HasPrefix(key, prefix+"/inst/") {
				member = "instances"
			}
			var v map[string]any
			if json.Unmarshal(kv.Value, &v) != nil {
				skipped++
				continue
			}
			value = v
		case strings.HasPrefix(key, prefix+"/ms/indexes/"):
			member = "serviceIndexes"
		case strings.HasPrefix(key, prefix+"/ms/alias/"):
			member = "serviceAliases"
		default:
			continue
		}
		want[member] = append(want[member], dumpEntry{Key: key, Rev: kv.ModRevision, Cluster: "main", Value: value})
	}
	if len(want["services"]) < 10 || len(want["instances"]) < 50 || skipped < 2 {
		t.Fatalf("test registry too small: %d services, %d instances, %d bad values", len(want["services"]), len(want["instances"]), skipped)
	}
	if !reflect.DeepEqual(got, want) {
		for member := range want {
			if !reflect.DeepEqual(got[member], want[member]) {
				t.Errorf("%s: got %d entries, want %d:\n got %v\nwant %v", member, len(got[member]), len(want[member]), got[member], want[member])
			}
		}
	}
	if !strings.Contains(logs.String(), fmt.Sprintf("entries=%d", skipped)) {
		t.Errorf("left-out entries not logged with their number (%d):\n%s", skipped, logs.String())
	}
}

func TestDumpCacheEmptyAndUnreachable(t *testing.T) {
	server := registrytest.StartEtcd(t, embedetcd.Options{})
	s, err := New(Options{Name: "main", Config: etcdConfig(server.Endpoint)})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(dumpOf(t, s)); got != "{}" {
		t.Errorf("empty registry dumped as %s, want {} (Service Center leaves empty members out)", got)
	}
	server.Close()
	cfg := etcdConfig(server.Endpoint)
	cfg.RequestTimeout = 0
	s, err = New(Options{Name: "main", Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var buf bytes.Buffer
	err = s.DumpCache(ctx, &buf)
	if err == nil || buf.Len() != 0 {
		t.Errorf("etcd down: err %v, wrote %q; want an error and nothing written", err, buf.String())
	}
}

// TestAppendJSONString: keys and index values are written as encoding/json
// writes strings (without HTML escaping).
func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "/cse-sr/ms/files/d/p/id", "quote\" backslash\\ tab\t nl\n cr\r", "\x00\x01\x1f\x7f",
		"é ü 中文 😀", "bad \xff\xfe utf8 \xe2\x28\xa1", "line\u2028para\u2029", "<html>&amp;"} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if got := string(appendJSONString(nil, []byte(s))); got != strings.TrimSuffix(want.String(), "\n") {
			t.Errorf("%q: got %s, want %s", s, got, want.String())
		}
	}
}

// failingWriter is a dump client that has gone away.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("client went away") }

// TestDumpCacheStopsOnWriteError: a dump whose client goes away while
// pages are still coming returns the write error, stopping the page
// fetcher instead of waiting for it.
func TestDumpCacheStopsOnWriteError(t *testing.T) {
	server := registrytest.StartEtcd(t, embedetcd.Options{})
	w := registrytest.NewWorld(t, registrytest.Client(t, server.Endpoint), 4)
	// 200 KB of instances: past the writer's 64 KiB buffer long before
	// the last page.
	pad := strings.Repeat("x", 1000)
	for i := range 200 {
		w.Put(fmt.Sprintf("%s/inst/files/d/p/svc/inst%03d", prefix, i), fmt.Sprintf(`{"instanceId":"inst%03d","pad":%q}`, i, pad))
	}
	s, err := New(Options{Name: "main", Config: etcdConfig(server.Endpoint), PageSize: 5})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.DumpCache(context.Background(), failingWriter{}) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "client went away") {
			t.Errorf("DumpCache: %v, want the write error", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("DumpCache did not return after its client went away")
	}
}
