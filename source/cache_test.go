package source

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/servicecomb/servicecomb_exporter/config"
)

func serviceCenterSource(name string, endpoints ...string) config.SourceConfig {
	sc := config.DefaultServiceCenterConfig()
	sc.Endpoints = endpoints
	return config.SourceConfig{Name: name, ServiceCenter: &sc}
}

type named interface{ Name() string }

// TestCacheDumperPicksSource: the cache dump comes from the named source,
// or the first one configured (configuration order, not name order).
func TestCacheDumperPicksSource(t *testing.T) {
	e := newEnv(t)
	// Nothing listens there: picking a source needs no backend.
	if err := e.apply(etcdSource("z-etcd", "http://127.0.0.1:1"), serviceCenterSource("a-sc", "http://127.0.0.1:1")); err != nil {
		t.Fatal(err)
	}
	pick := func(name string) string {
		t.Helper()
		d, err := e.manager.CacheDumper(name)
		if err != nil {
			t.Fatalf("CacheDumper(%q): %v", name, err)
		}
		return d.(named).Name()
	}
	if got := pick(""); got != "z-etcd" {
		t.Errorf("default source %s, want the first configured, z-etcd", got)
	}
	if got := pick("a-sc"); got != "a-sc" {
		t.Errorf("named source %s, want a-sc", got)
	}
	_, err := e.manager.CacheDumper("nope")
	if err == nil || !strings.Contains(err.Error(), `unknown source "nope"; configured sources: z-etcd, a-sc`) {
		t.Errorf("unknown source: %v", err)
	}
	// Reordered, unchanged sources: the first is the new first.
	if err := e.apply(serviceCenterSource("a-sc", "http://127.0.0.1:1"), etcdSource("z-etcd", "http://127.0.0.1:1")); err != nil {
		t.Fatal(err)
	}
	if got := pick(""); got != "a-sc" {
		t.Errorf("default source after reordering %s, want a-sc", got)
	}
	if err := e.apply(); err != nil {
		t.Fatal(err)
	}
	if d, err := e.manager.CacheDumper(""); d != nil || err != nil {
		t.Errorf("no source configured: %v, %v; want nil, nil", d, err)
	}
}

func TestClustersStripCredentials(t *testing.T) {
	e := newEnv(t)
	if err := e.apply(
		etcdSource("main", "http://root:s3cret@127.0.0.1:1", "127.0.0.1:2"),
		serviceCenterSource("sc", "https://monitor:s3cret@127.0.0.1:3/?token=s3cret#x", "http://127.0.0.1:4"),
	); err != nil {
		t.Fatal(err)
	}
	got := e.manager.Clusters()
	want := map[string][]string{
		"main": {"http://127.0.0.1:1", "127.0.0.1:2"},
		"sc":   {"https://127.0.0.1:3/", "http://127.0.0.1:4"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("clusters = %v, want %v", got, want)
	}
}

func TestStripCredentials(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://127.0.0.1:2379", "http://127.0.0.1:2379"},
		{"http://root:pw@127.0.0.1:2379", "http://127.0.0.1:2379"},
		{"https://user@host:30100/base", "https://host:30100/base"},
		{"https://host:30100?access_token=pw", "https://host:30100"},
		{"https://host:30100#pw", "https://host:30100"},
		{"127.0.0.1:2379", "127.0.0.1:2379"},
		{"root:pw@127.0.0.1:2379", "127.0.0.1:2379"},
		{"localhost:2379?pw", "localhost:2379"},
		{"unix:///run/etcd.sock", "unix:///run/etcd.sock"},
	}
	for _, tt := range tests {
		got := stripCredentials([]string{tt.in})
		if !slices.Equal(got, []string{tt.want}) {
			t.Errorf("%q: got %q, want %q", tt.in, got, tt.want)
		}
		if strings.Contains(got[0], "pw") {
			t.Errorf("%q: credentials left in %q", tt.in, got[0])
		}
	}
}
