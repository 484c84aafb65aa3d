package etcd

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/servicecomb/servicecomb_exporter/internal/embedetcd"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/registrytest"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/wait"
)

// TestWipedEtcdIsListedAgain: etcd stopped, its data directory wiped and
// restarted on the same port within a second. The source must notice (the
// revision went backwards) and list the new, smaller registry instead of
// waiting on its old revision with the old counts.
func TestWipedEtcdIsListedAgain(t *testing.T) {
	t.Parallel() // most of it is etcd's graceful stop
	dir := t.TempDir()
	// The restarted etcd is closed after the source has stopped (cleanups
	// run last first), so that its close need not wait for the watch.
	var restarted *embedetcd.Server
	t.Cleanup(func() {
		if restarted != nil {
			restarted.Close()
		}
	})
	server := registrytest.StartEtcd(t, embedetcd.Options{Dir: dir})
	c := registrytest.Client(t, server.Endpoint)
	w := registrytest.NewWorld(t, c, 11)
	for i := 0; i < 60; i++ {
		w.RandomOp()
	}
	// A probe waits for the connection to come back (gRPC's wait for
	// ready) up to its timeout: with a long one, the restart never shows as
	// a failure, as with a restart quicker than the default 2 s. (New caps
	// the probe timeout at the request timeout: raise both.)
	cfg := etcdConfig(server.Endpoint)
	cfg.RequestTimeout = model.Duration(30 * time.Second)
	s, rec := runSource(t, cfg, func(o *Options) { o.ProbeTimeout = 30 * time.Second })
	assertCaughtUp(t, s, c, "before the wipe")
	before := s.Snapshot()

	server.Close() // several seconds: etcd lets the source's watch drain
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	restarted, err := embedetcd.Start(embedetcd.Options{Dir: dir, ClientAddress: strings.TrimPrefix(server.Endpoint, "http://"), Quiet: true, NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	c = registrytest.Client(t, restarted.Endpoint)
	w = registrytest.NewWorld(t, c, 12)
	for i := 0; i < 5; i++ {
		w.AddService()
	}
	w.AddInstance()

	wait.For(t, "a new list after the wipe", 10*time.Second, func() bool {
		return s.Snapshot().Syncs["success"] > before.Syncs["success"]
	})
	assertCaughtUp(t, s, c, "after the wipe")
	for i := 0; i < 20; i++ {
		w.RandomOp()
	}
	assertCaughtUp(t, s, c, "keys added after the wipe")
	if down, _ := rec.state(); down || !s.Snapshot().Up {
		t.Error("the source is down after etcd came back")
	}
}
