package etcd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/servicecomb/servicecomb_exporter/internal/embedetcd"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/registrytest"
	"github.com/servicecomb/servicecomb_exporter/registry"
)

// putRegistry writes a project per entry of instances, with that many
// services of perService instances each.
func putRegistry(t *testing.T, c *clientv3.Client, layout registry.Layout, projects map[string][2]int) {
	t.Helper()
	for project, shape := range projects {
		domain := "d-" + project
		for _, kv := range [][2]string{{layout.DomainKey(domain), ""}, {layout.ProjectKey(domain, project), ""}} {
			if _, err := c.Put(context.Background(), kv[0], kv[1]); err != nil {
				t.Fatal(err)
			}
		}
		for sv := 0; sv < shape[0]; sv++ {
			id := fmt.Sprintf("s%03d", sv)
			if _, err := c.Put(context.Background(), layout.ServiceKey(domain, project, id), `{"appId":"a","serviceName":"`+id+`"}`); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < shape[1]; i++ {
				if _, err := c.Put(context.Background(), layout.InstanceKey(domain, project, id, fmt.Sprintf("i%03d", i)), `{"status":"UP"}`); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// TestListCutsOnlyLargeProjectsAtServices: a project's instances are read
// in one range unless its first page shows more than rangePages pages of
// keys; then the rest is cut at every ServicesPerRange-th service. Every
// instance is counted either way.
func TestListCutsOnlyLargeProjectsAtServices(t *testing.T) {
	server := registrytest.StartEtcd(t, embedetcd.Options{})
	c := registrytest.Client(t, server.Endpoint)
	layout := registry.NewLayout(prefix)
	const pageSize, perRange = 7, 2
	// small: 6 instances, under one page; large: 60, over rangePages pages.
	putRegistry(t, c, layout, map[string][2]int{"small": {3, 2}, "large": {6, 10}})

	var mu sync.Mutex
	var ranges []string
	s, err := New(Options{Name: "test", Config: etcdConfig(server.Endpoint), PageSize: pageSize, ServicesPerRange: perRange,
		hooks: hooks{onRange: func(start, end string) {
			mu.Lock()
			defer mu.Unlock()
			ranges = append(ranges, strings.TrimPrefix(start, layout.Prefix(registry.KindInstance)))
		}}})
	if err != nil {
		t.Fatal(err)
	}
	state, _, _, err := s.list(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if got := total(state.Counts().Instances); got != 66 {
		t.Errorf("%d instances counted, want 66", got)
	}
	starts := map[string]bool{}
	for _, r := range ranges {
		starts[r] = true
	}
	// Services 0, 2 and 4 of each project are its split points (every
	// second service after the first).
	for _, cut := range []string{"d-small/small/s002/", "d-small/small/s004/"} {
		if starts[cut] {
			t.Errorf("the small project's instances were cut at %s; ranges %q", cut, ranges)
		}
	}
	if !starts["d-small/small/"] {
		t.Errorf("no range for the small project's instances; ranges %q", ranges)
	}
	for _, cut := range []string{"d-large/large/s002/", "d-large/large/s004/"} {
		if !starts[cut] {
			t.Errorf("the large project's instances were not cut at %s; ranges %q", cut, ranges)
		}
	}
}

// TestListFailingRangeStopsTheOthers: when one of the ranges read at once
// fails (here: its revision compacted away mid-list), the list returns that
// error and its readers stop.
func TestListFailingRangeStopsTheOthers(t *testing.T) {
	server := registrytest.StartEtcd(t, embedetcd.Options{})
	c := registrytest.Client(t, server.Endpoint)
	layout := registry.NewLayout(prefix)
	shape := map[string][2]int{}
	for p := 0; p < 12; p++ {
		shape[fmt.Sprintf("p%02d", p)] = [2]int{2, 3}
	}
	putRegistry(t, c, layout, shape)

	var once sync.Once
	s, err := New(Options{Name: "test", Config: etcdConfig(server.Endpoint), PageSize: 2, ServicesPerRange: 2,
		hooks: hooks{onRange: func(start, _ string) {
			if !strings.HasPrefix(start, layout.Prefix(registry.KindInstance)+"d-p05") {
				return
			}
			once.Do(func() {
				// A write, then a compaction past the list's revision.
				resp, err := c.Put(context.Background(), "/elsewhere", "x")
				if err == nil {
					_, err = c.Compact(context.Background(), resp.Header.Revision)
				}
				if err != nil {
					t.Error(err)
				}
			})
		}}})
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, err = s.list(context.Background(), c)
	if !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("list returned %v, want the compaction error", err)
	}
}
