package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/servicecomb/servicecomb_exporter/internal/embedetcd"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/registrytest"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/wait"
)

// BenchmarkStatusPage times GET /status from the whole exporter reading an
// embedded etcd with 1,000 domains (5,000 services, 20,000 instances):
// snapshot, per-domain summary, template and HTTP. The baseline in the same
// run is GET /metrics, the same snapshot rendered for Prometheus.
func BenchmarkStatusPage(b *testing.B) {
	server := registrytest.StartEtcd(b, embedetcd.Options{})
	c := registrytest.Client(b, server.Endpoint)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := registrytest.Populate(ctx, c, registrytest.Shape{Domains: 1000, Services: 5000, Instances: 20000}); err != nil {
		b.Fatal(err)
	}
	cfgFile := filepath.Join(b.TempDir(), "config.yml")
	e := startExporterB(b, cfgFile, fmt.Sprintf("sources:\n  - name: main\n    etcd:\n      endpoints: [%s]\n", server.Endpoint))
	for _, bm := range []struct{ name, path, want string }{
		{"status", "/status", "1000 domains · 1000 projects · 5000 services"},
		{"status-filtered", "/status?domain=tenant-05", "100 of 1000 domains match"},
		{"baseline-metrics", "/metrics", `servicecomb_registry_domains{source="main"} 1000`},
	} {
		b.Run(bm.name, func(b *testing.B) {
			var size int
			for b.Loop() {
				status, body := e.get(b, bm.path)
				if status != http.StatusOK || !strings.Contains(body, bm.want) {
					b.Fatalf("%s: %d, lacks %q", bm.path, status, bm.want)
				}
				size = len(body)
			}
			b.ReportMetric(float64(size), "bytes/page")
		})
	}
}

// benchExporter is the exporter running in-process for a benchmark.
type benchExporter struct {
	baseURL string
	client  *http.Client
}

func (e *benchExporter) get(b *testing.B, path string) (int, string) {
	resp, err := e.client.Get(e.baseURL + path)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// startExporterB runs the exporter with the configuration until the
// benchmark ends, and waits until its sources have synced.
func startExporterB(b *testing.B, cfgFile, cfg string) *benchExporter {
	b.Helper()
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	addr, _ := runInProcess(b, []string{"--config.file", cfgFile}, log.NewNopLogger())
	e := &benchExporter{baseURL: "http://" + addr, client: &http.Client{Timeout: 10 * time.Second}}
	wait.For(b, "ready", time.Minute, func() bool {
		resp, err := e.client.Get(e.baseURL + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return e
}
