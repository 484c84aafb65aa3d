package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/servicecomb/servicecomb_exporter/internal/logging"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/logbuf"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/wait"
	"github.com/servicecomb/servicecomb_exporter/simulator"
)

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // "" for valid
	}{
		{nil, ""},
		{[]string{"--embedded", "--outage.after=10s", "--outage.duration=5s", "--outage.every=1m"}, ""},
		{[]string{"--etcd.endpoints=http://a:2379", "--etcd.endpoints=http://b:2379", "--seed=7", "--churn.rate=0.5"}, ""},
		{[]string{"--outage.after=10s", "--outage.duration=5s"}, "needs --embedded"},
		{[]string{"--embedded", "--outage.after=10s"}, "needs --outage.duration"},
		{[]string{"--embedded", "--outage.duration=10s"}, "need --outage.after"},
		{[]string{"--embedded", "--outage.after=1s", "--outage.duration=10s", "--outage.every=5s"}, "longer than"},
		{[]string{"--domains=0"}, "domains"},
		{[]string{"--instances-per-lease=0"}, "per lease"},
		{[]string{"--prefix=cse"}, "prefix"},
		{[]string{"--lease-ttl=10ms"}, "TTL"},
		{[]string{"--no-such-flag"}, "unknown"},
		{[]string{"--service-outage.after=1m", "--service-outage.duration=2m"}, ""},
		{[]string{"--service-outage.service=tenant-1/proj-1/payment-svc", "--service-outage.mode=down", "--service-outage.after=1m", "--service-outage.duration=2m", "--service-outage.every=10m"}, ""},
		{[]string{"--service-outage.service=order-svc", "--service-outage.after=1m", "--service-outage.duration=2m"}, "domain/project/name"},
		{[]string{"--service-outage.service=default/default/nope-svc", "--service-outage.after=1m", "--service-outage.duration=2m"}, "--service-outage.*: service outage: no service"},
		{[]string{"--service-outage.after=1m"}, "--service-outage.*: service outage: after needs a duration"},
		{[]string{"--service-outage.mode=delete"}, "delete"},
		{[]string{"--service-outage.after=1m", "--service-outage.duration=2m", "--service-outage.every=1m"}, "longer than"},
	} {
		f, err := parseFlags(tc.args, io.Discard, io.Discard)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: %v, want an error about %q", tc.args, err, tc.want)
		}
		if len(tc.args) == 5 && tc.want == "" {
			want := simulator.ServiceOutage{Domain: "tenant-1", Project: "proj-1", Service: "payment-svc", Mode: simulator.OutageDown,
				After: time.Minute, Duration: 2 * time.Minute, Every: 10 * time.Minute}
			if f == nil || f.cfg.ServiceOutage != want {
				t.Errorf("%v: service outage %+v, want %+v", tc.args, f.cfg.ServiceOutage, want)
			}
		}
		if tc.args == nil && f != nil && f.cfg.ServiceOutage.Enabled() {
			t.Errorf("defaults: a service outage is scripted: %+v", f.cfg.ServiceOutage)
		}
		if tc.args == nil && (f == nil || len(f.endpoints) != 1 || f.endpoints[0] != "http://127.0.0.1:2379" ||
			f.embeddedAddress != "127.0.0.1:2379" || f.cfg.Prefix != "/cse-sr" || f.cfg.Domains != 3 ||
			f.cfg.ChurnRate != 5 || f.cfg.LeaseTTL != 30*time.Second) {
			t.Errorf("defaults: %+v", f)
		}
	}
	var out bytes.Buffer
	if code := run([]string{"--domains=-1"}, io.Discard, &out); code != 2 || !strings.Contains(out.String(), "domains") {
		t.Errorf("bad flag: exit %d, %q", code, out.String())
	}
	if code := run([]string{"--help"}, &out, &out); code != 0 || !strings.Contains(out.String(), "--outage.every") || !strings.Contains(out.String(), "--service-outage.after") {
		t.Errorf("--help: exit %d", code)
	}
}

// The whole program with an embedded etcd on a random port: it loads,
// churns, survives a scripted outage, and stops cleanly, removing its
// temporary data directory.
func TestEmbeddedWithOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out an outage of etcd")
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	f, err := parseFlags([]string{"--embedded", "--embedded.listen-address=127.0.0.1:0", "--domains=2",
		"--lease-ttl=5s", "--churn.rate=50", "--outage.after=1s", "--outage.duration=1s"}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logbuf.Buffer{}
	logger, err := logging.New(logs, "debug", "logfmt")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	endpoints := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- runSimulator(ctx, f, logger, func(ep string) { endpoints <- ep }) }()
	stopped := false
	defer func() {
		if !stopped {
			cancel()
			<-done
		}
	}()

	var endpoint string
	select {
	case endpoint = <-endpoints:
	case err := <-done:
		t.Fatalf("simulator: %v; logs:\n%s", err, logs)
	case <-time.After(60 * time.Second):
		t.Fatalf("no endpoint; logs:\n%s", logs)
	}
	if !strings.Contains(logs.String(), `msg="using etcd" endpoint=`+endpoint) || !strings.HasPrefix(endpoint, "http://127.0.0.1:") {
		t.Errorf("endpoint %s not logged:\n%s", endpoint, logs)
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	count := func(prefix string) int64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		resp, err := c.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			return -1
		}
		return resp.Count
	}
	wait.For(t, "instances", 30*time.Second, func() bool { return count("/cse-sr/inst/files/") > 0 }, wait.Detail(logs.String))
	if n := count("/cse-sr/domains/"); n != 2 {
		t.Errorf("%d domains, want 2", n)
	}

	wait.For(t, "the outage to end", 60*time.Second, func() bool {
		return strings.Contains(logs.String(), "churn resumed")
	}, wait.Detail(logs.String))
	var rev int64
	wait.For(t, "etcd to answer again", 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		resp, err := c.Get(ctx, "/cse-sr/inst/files/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err == nil && resp.Count > 0 {
			rev = resp.Header.Revision
		}
		return rev > 0
	}, wait.Detail(logs.String))
	wait.For(t, "churn after the outage", 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		resp, err := c.Get(ctx, "/none")
		return err == nil && resp.Header.Revision > rev+10
	}, wait.Detail(logs.String))

	cancel()
	stopped = true
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("simulator: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("did not stop; logs:\n%s", logs)
	}
	for _, step := range []string{"outage: pausing churn", "outage: embedded etcd stopped", "outage over", "churn resumed", "msg=stopped"} {
		if !strings.Contains(logs.String(), step) {
			t.Errorf("no %q in logs", step)
		}
	}
	// etcd restarts its leases' clocks and the simulator renews them in
	// time: no instance expires because of the outage.
	if strings.Contains(logs.String(), "lease expired") {
		t.Errorf("leases expired over the outage:\n%s", logs)
	}
	if entries, err := os.ReadDir(tmp); err != nil || len(entries) != 0 {
		t.Errorf("temporary directory left behind: %v %v", entries, err)
	}
}
