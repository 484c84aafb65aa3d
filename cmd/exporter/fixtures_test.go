package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/servicecomb/servicecomb_exporter/internal/embedetcd"
)

// steadyDir holds the answers recorded from a real Service Center.
const steadyDir = "../../source/servicecenter/testdata/03-steady/"

// startEtcd starts a real single-node etcd on loopback with a client to it;
// both end with the test.
func startEtcd(t *testing.T) (endpoint string, client *clientv3.Client) {
	t.Helper()
	server, err := embedetcd.Start(embedetcd.Options{Dir: t.TempDir(), Quiet: true, NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(server.Close)
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{server.Endpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return server.Endpoint, c
}

// replayServiceCenter serves the answers recorded from a real Service Center
// (source/servicecenter/testdata/03-steady) on loopback until the test ends.
func replayServiceCenter(t *testing.T) *httptest.Server {
	t.Helper()
	return replayServiceCenterDump(t, steadyDir+"dump_cache.json")
}

// replayServiceCenterDump is replayServiceCenter answering the dump with
// the file dump instead.
func replayServiceCenterDump(t *testing.T, dump string) *httptest.Server {
	t.Helper()
	files := map[string]string{
		"/v4/default/admin/dump":       dump,
		"/v4/default/admin/alarms":     steadyDir + "alarms.json",
		"/v4/default/registry/health":  steadyDir + "health.json",
		"/v4/default/registry/version": steadyDir + "version.json",
	}
	sc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		body, err := os.ReadFile(name)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		_, _ = w.Write(body)
	}))
	t.Cleanup(sc.Close)
	return sc
}
