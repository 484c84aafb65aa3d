package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/servicecomb/servicecomb_exporter/internal/testutil/registrytest"
)

// metricFamiliesGolden pins every metric family the exporter exposes: name,
// type, label names and help. Set UPDATE_GOLDEN=1 to rewrite it after a
// deliberate change (and update the README's metrics table with it).
const metricFamiliesGolden = "testdata/metric_families.golden"

// TestMetricFamiliesSnapshot runs the exporter with every kind of part that
// has metrics (a live and a dead etcd source, a Service Center source, an
// Alertmanager that has received alerts) and compares the families of one
// scrape with the golden list, so that moving metric definitions around
// cannot rename, retype or relabel one unnoticed. Go runtime and process
// metrics are left out: they are client_golang's and vary by platform.
func TestMetricFamiliesSnapshot(t *testing.T) {
	etcdEndpoint, c := startEtcd(t)
	w := registrytest.NewWorld(t, c, 7)
	for i := 0; i < 20; i++ {
		w.RandomOp()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadEtcd := "http://" + l.Addr().String()
	l.Close()

	sc := replayServiceCenter(t)
	var posts atomic.Int64
	am := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v2/alerts" {
			posts.Add(1)
		}
	}))
	defer am.Close()

	cfgFile := filepath.Join(t.TempDir(), "config.yml")
	writeFile(t, cfgFile, fmt.Sprintf(`sources:
  - name: main
    etcd:
      endpoints: [%s]
  - name: dead
    etcd:
      endpoints: [%s]
      dial_timeout: 1s
  - name: sc
    servicecenter:
      endpoints: [%s]
      poll_interval: 1s
alerting:
  alertmanagers:
    - url: %s
`, etcdEndpoint, deadEtcd, sc.URL, am.URL))
	e := startExporter(t, "--config.file", cfgFile)
	// Watch events count only changes made after the first sync.
	e.waitFor("the first sync", func() bool {
		_, body := e.get("/metrics", nil)
		return strings.Contains(body, `servicecomb_registry_source_up{source="main"} 1`)
	})
	for i := 0; i < 5; i++ {
		w.RandomOp()
	}
	var families map[string]*dto.MetricFamily
	e.waitFor("every part's metrics", func() bool {
		if posts.Load() == 0 {
			return false
		}
		_, body := e.get("/metrics", nil)
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err = parser.TextToMetricFamilies(strings.NewReader(body))
		if err != nil {
			t.Fatalf("parsing /metrics: %v", err)
		}
		for _, name := range []string{
			`servicecomb_registry_domains`, `servicecomb_service_center_info`, `servicecomb_alarm_active`,
			`servicecomb_alertmanager_notifications_latency_seconds`, `servicecomb_registry_source_up`, `servicecomb_registry_watch_events_total`,
		} {
			if families[name] == nil {
				return false
			}
		}
		return true
	})

	got := snapshotFamilies(families)
	if os.Getenv("UPDATE_GOLDEN") != "" {
		writeFile(t, metricFamiliesGolden, got)
		return
	}
	want, err := os.ReadFile(metricFamiliesGolden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		gotLines, wantLines := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for _, l := range wantLines {
			if !slices.Contains(gotLines, l) {
				t.Errorf("missing or changed: %s", l)
			}
		}
		for _, l := range gotLines {
			if !slices.Contains(wantLines, l) {
				t.Errorf("new or changed:     %s", l)
			}
		}
	}
}

// snapshotFamilies is one line per family: name, type, the sorted label
// names of its series (le and quantile are part of the type) and help.
func snapshotFamilies(families map[string]*dto.MetricFamily) string {
	var lines []string
	for name, f := range families {
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
			continue
		}
		labels := map[string]bool{}
		for _, m := range f.GetMetric() {
			for _, p := range m.GetLabel() {
				labels[p.GetName()] = true
			}
		}
		names := make([]string, 0, len(labels))
		for l := range labels {
			names = append(names, l)
		}
		sort.Strings(names)
		lines = append(lines, fmt.Sprintf("%s %s {%s} %q", name, strings.ToLower(f.GetType().String()), strings.Join(names, ","), f.GetHelp()))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}
