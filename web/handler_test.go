package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/servicecomb/servicecomb_exporter/alarm"
	"github.com/servicecomb/servicecomb_exporter/collector"
	"github.com/servicecomb/servicecomb_exporter/notify"
)

type fixture struct {
	center  *alarm.Center
	handler http.Handler
	ready   bool
	reload  error
	// registry is what the dump's cache option shows for the registry.
	registry func() any
}

// newTestCenter returns an alarm center publishing on a running bus; both
// stop when the test ends.
func newTestCenter(t testing.TB) *alarm.Center {
	t.Helper()
	bus := notify.New(nil)
	center, err := alarm.NewCenter(bus, nil, alarm.WithQueue(notify.DefaultQueueSize, 0))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = bus.Run(ctx); close(done) }()
	t.Cleanup(func() { center.Close(); cancel(); <-done })
	return center
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{center: newTestCenter(t), ready: true}
	var err error

	health := alarm.NewHealthChecker(f.center)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector.NewAlarmCollector(f.center), collector.NewHealthCollector(health))
	f.handler, err = NewHandler(Options{
		Alarms:  f.center,
		Health:  health,
		Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		Reload:  func() error { return f.reload },
		// EnableLifecycle as with --web.enable-lifecycle; see
		// TestLifecycleNeedsFlag for the default.
		EnableLifecycle: true,
		Ready:           func() bool { return f.ready },
		Config: func() ([]byte, error) {
			return []byte("global:\n  external_url: http://x/\nsources:\n  - name: main\n    etcd:\n      password: <secret>\n"), nil
		},
		Endpoints: []string{"rest://exporter-host:9729/"},
		StartTime: time.Unix(1795533828, 0),
		Registry: func() any {
			if f.registry != nil {
				return f.registry()
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) do(method, target string, header http.Header) (int, http.Header, string) {
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, rec.Result().Header, string(body)
}

func TestEndpoints(t *testing.T) {
	tenant := http.Header{"X-Domain-Name": {"tenant-a"}}
	tests := []struct {
		name       string
		setup      func(f *fixture)
		method     string
		target     string
		header     http.Header
		wantStatus int
		wantBody   string // exact body, if set
		contains   []string
		excludes   []string
	}{
		{name: "landing page", method: "GET", target: "/", wantStatus: 200, contains: []string{"<!DOCTYPE html>\n<html", "ServiceComb Exporter",
			`href="/metrics"`, `href="/health"`, `href="/version"`, `href="/-/ready"`, `href="/v4/default/admin/alarms"`}},
		{name: "unknown path", method: "GET", target: "/nope", wantStatus: 404,
			wantBody: `{"errorCode":"404001","errorMessage":"Not found","detail":"/nope"}`},
		{name: "unknown v4 path", method: "GET", target: "/v4/default/admin/nope", wantStatus: 404},
		{name: "metrics", method: "GET", target: "/metrics", wantStatus: 200, contains: []string{"servicecomb_healthy 1"}},
		{name: "healthy", method: "GET", target: "/-/healthy", wantStatus: 200},
		{name: "ready", method: "GET", target: "/-/ready", wantStatus: 200},
		{name: "not ready", setup: func(f *fixture) { f.ready = false }, method: "GET", target: "/-/ready", wantStatus: 503},
		{name: "reload", method: "POST", target: "/-/reload", wantStatus: 200},
		{name: "reload failing", setup: func(f *fixture) { f.reload = errors.New("config.yml:3: global.x: unknown key") },
			method: "POST", target: "/-/reload", wantStatus: 500, contains: []string{"config.yml:3: global.x: unknown key"}},
		{name: "reload needs POST", method: "GET", target: "/-/reload", wantStatus: 405,
			wantBody: `{"errorCode":"405001","errorMessage":"Method not allowed","detail":"GET /-/reload"}`},
		// Issue 12: read-only endpoints answer GET and HEAD only.
		{name: "metrics HEAD", method: "HEAD", target: "/metrics", wantStatus: 200},
		{name: "metrics TRACE", method: "TRACE", target: "/metrics", wantStatus: 405},
		{name: "metrics POST", method: "POST", target: "/metrics", wantStatus: 405},
		{name: "landing page DELETE", method: "DELETE", target: "/", wantStatus: 405},
		{name: "healthy PUT", method: "PUT", target: "/-/healthy", wantStatus: 405},
		{name: "dump OPTIONS", method: "OPTIONS", target: "/v4/default/admin/dump", wantStatus: 405},
		{name: "health", method: "GET", target: "/health", wantStatus: 200, contains: []string{`"status":"UP"`}},
		{name: "health of any project", method: "GET", target: "/v4/p1/registry/health", wantStatus: 200},
		{name: "unhealthy", setup: raise(alarm.BackendConnectionRefuse, "etcd: connection refused"),
			method: "GET", target: "/health", wantStatus: 400,
			wantBody: `{"errorCode":"400002","errorMessage":"Server is Unhealthy","detail":"etcd: connection refused"}`},
		{name: "unhealthy v4", setup: raise(alarm.BackendConnectionRefuse, "down"),
			method: "GET", target: "/v4/default/registry/health", wantStatus: 400, contains: []string{`"errorCode":"400002"`}},
		{name: "health wrong method", method: "POST", target: "/health", wantStatus: 405},
		{name: "version", method: "GET", target: "/v4/default/registry/version", wantStatus: 200, contains: []string{`"apiVersion":"4.0.0"`}},
		{name: "no alarms", method: "GET", target: "/v4/default/admin/alarms", wantStatus: 200, wantBody: `{}`},
		{name: "alarms", setup: raise(alarm.BackendConnectionRefuse, "down"), method: "GET", target: "/v4/default/admin/alarms",
			wantStatus: 200, contains: []string{`{"alarms":[{"id":"BackendConnectionRefuse","status":"ACTIVATED","fields":{"detail":"down"},"activatedAt":"`}},
		{name: "clear alarms", setup: raise(alarm.BackendConnectionRefuse, "down"), method: "DELETE", target: "/v4/default/admin/alarms",
			wantStatus: 200, wantBody: ""},
		{name: "alarms wrong method", method: "PUT", target: "/v4/default/admin/alarms", wantStatus: 405},
		// As Service Center with RBAC off: alarms for any domain and project.
		{name: "alarms of another project", setup: raise(alarm.BackendConnectionRefuse, "down"), method: "GET",
			target: "/v4/proj-x/admin/alarms", wantStatus: 200, contains: []string{`"id":"BackendConnectionRefuse"`}},
		{name: "alarms of another domain", setup: raise(alarm.BackendConnectionRefuse, "down"), method: "GET",
			target: "/v4/default/admin/alarms", header: tenant, wantStatus: 200, contains: []string{`"id":"BackendConnectionRefuse"`}},
		{name: "clear alarms of another domain", setup: raise(alarm.BackendConnectionRefuse, "down"), method: "DELETE",
			target: "/v4/default/admin/alarms", header: tenant, wantStatus: 200, wantBody: ""},
		{name: "dump defaults to cache, empty without a source", method: "GET", target: "/v4/default/admin/dump",
			wantStatus: 200, wantBody: `{"cache":{}}`},
		{name: "dump exporter", setup: raise(alarm.BackendConnectionRefuse, "down"), method: "GET", target: "/v4/default/admin/dump?options=exporter",
			wantStatus: 200, contains: []string{`{"exporter":{"registry":{},"alarms":[{"id":"BackendConnectionRefuse"`}, excludes: []string{`"info"`, `"env"`, `"config"`, `"cache"`}},
		{name: "dump with registry", setup: func(f *fixture) { f.registry = func() any { return map[string]int{"domains": 3} } },
			method: "GET", target: "/v4/default/admin/dump?options=exporter", wantStatus: 200, contains: []string{`"registry":{"domains":3}`}},
		{name: "dump info and env", method: "GET", target: "/v4/default/admin/dump?options=info,env", wantStatus: 200,
			contains: []string{`"info":{"version"`, `"uptime"`, `"env":{"hostname"`, `"gomaxprocs"`}, excludes: []string{`"cache"`, `"config"`}},
		{name: "dump all", method: "GET", target: "/v4/default/admin/dump?options=all", wantStatus: 200,
			contains: []string{`"info"`, `"config":{"global":{"external_url":"http://x/"}`, `"password":"\u003csecret\u003e"`, `"env"`, `"exporter":{`, `"cache":{}}`}},
		{name: "dump never shows environment values", method: "GET", target: "/v4/default/admin/dump?options=all", wantStatus: 200,
			excludes: []string{"s3cr3t-from-env"}},
		{name: "dump unknown option", method: "GET", target: "/v4/default/admin/dump?options=info,secrets", wantStatus: 400,
			wantBody: `{"errorCode":"400001","errorMessage":"Invalid parameter(s)","detail":"unknown dump option \"secrets\"; valid options: info, config, env, exporter, cache, all"}`},
		{name: "dump of another domain", method: "GET", target: "/v4/default/admin/dump", header: tenant, wantStatus: 403,
			wantBody: `{"errorCode":"403001","errorMessage":"Forbidden","detail":"the dump and clusters are only served for domain and project default"}`},
		{name: "dump of another project", method: "GET", target: "/v4/proj-x/admin/dump", wantStatus: 403},
	}
	t.Setenv("SERVICECOMB_TEST_TOKEN", "s3cr3t-from-env")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if tt.setup != nil {
				tt.setup(f)
			}
			status, header, body := f.do(tt.method, tt.target, tt.header)
			if status != tt.wantStatus {
				t.Errorf("status %d, want %d (body %s)", status, tt.wantStatus, body)
			}
			if tt.wantBody != "" || (tt.method == "DELETE" && status == 200) {
				if body != tt.wantBody {
					t.Errorf("body:\n got %s\nwant %s", body, tt.wantBody)
				}
			}
			for _, s := range tt.contains {
				if !strings.Contains(body, s) {
					t.Errorf("body does not contain %s:\n%s", s, body)
				}
			}
			for _, s := range tt.excludes {
				if strings.Contains(body, s) {
					t.Errorf("body contains %s:\n%s", s, body)
				}
			}
			if strings.HasPrefix(body, "{") && !json.Valid([]byte(body)) {
				t.Errorf("invalid JSON: %s", body)
			}
			if status == 405 && header.Get("Allow") == "" {
				t.Error("405 without Allow header")
			}
			// Only server errors raise InternalError.
			_, raised := f.center.Get("", alarm.InternalError)
			if raised != (status >= 500 && tt.target != "/-/ready") {
				t.Errorf("status %d: InternalError raised = %v", status, raised)
			}
		})
	}
}

func raise(id alarm.ID, detail string) func(*fixture) {
	return func(f *fixture) {
		if err := f.center.Raise(id, alarm.Detail("%s", detail)); err != nil {
			panic(err)
		}
	}
}

func TestClearAlarmsEmptiesList(t *testing.T) {
	f := newFixture(t)
	raise(alarm.BackendConnectionRefuse, "down")(f)
	if status, _, _ := f.do("DELETE", "/v4/default/admin/alarms", nil); status != 200 {
		t.Fatalf("DELETE: %d", status)
	}
	if _, _, body := f.do("GET", "/v4/default/admin/alarms", nil); body != "{}" {
		t.Fatalf("after DELETE the list is %s, want {}", body)
	}
	if status, _, _ := f.do("GET", "/health", nil); status != 200 {
		t.Fatalf("health after clearing all: %d", status)
	}
}

// TestRaisedAlarmVisibleAtOnce checks the "done when": a raised
// alarm shows in the alarms API, /metrics and /health the moment Raise
// returns.
func TestRaisedAlarmVisibleAtOnce(t *testing.T) {
	f := newFixture(t)
	raise(alarm.BackendConnectionRefuse, "etcd unreachable")(f)
	if _, _, body := f.do("GET", "/v4/default/admin/alarms", nil); !strings.Contains(body, `"status":"ACTIVATED"`) {
		t.Errorf("alarms API: %s", body)
	}
	_, _, metrics := f.do("GET", "/metrics", nil)
	for _, want := range []string{`servicecomb_alarm_active{id="BackendConnectionRefuse",source=""} 1`, "servicecomb_healthy 0"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if status, _, body := f.do("GET", "/health", nil); status != 400 || !strings.Contains(body, "etcd unreachable") {
		t.Errorf("health: %d %s", status, body)
	}
}

func TestPanicBecomesInternalError(t *testing.T) {
	f := newFixture(t)
	f.registry = func() any { panic("broken registry view") }
	status, _, body := f.do("GET", "/v4/default/admin/dump?options=exporter", nil)
	if status != 500 || !strings.Contains(body, `"errorCode":"500003"`) {
		t.Fatalf("status %d body %s", status, body)
	}
	a, ok := f.center.Get("", alarm.InternalError)
	if !ok || !a.Active() || !strings.Contains(a.Detail(), "GET /v4/default/admin/dump: 500") {
		t.Fatalf("InternalError: %+v", a)
	}
}

func TestNewHandlerValidates(t *testing.T) {
	if _, err := NewHandler(Options{}); err == nil {
		t.Error("no error without alarms, health and metrics")
	}
	f := newFixture(t)
	_, err := NewHandler(Options{Alarms: f.center, Health: alarm.NewHealthChecker(f.center), Metrics: http.NotFoundHandler(), TelemetryPath: "metrics"})
	if err == nil {
		t.Error("no error for a telemetry path without leading /")
	}
}

// TestHealthBodyIsServiceCenterInstance compares the health answer with
// one recorded from a real Service Center: the same instance record shape,
// with the exporter's own values and a version that is never empty.
func TestHealthBodyIsServiceCenterInstance(t *testing.T) {
	recorded, err := os.ReadFile("testdata/servicecenter_health.json")
	if err != nil {
		t.Fatal(err)
	}
	var want struct{ Instances []map[string]any }
	if err := json.Unmarshal(recorded, &want); err != nil || len(want.Instances) == 0 {
		t.Fatalf("recorded health: %v", err)
	}
	f := newFixture(t)
	status, _, body := f.do("GET", "/health", nil)
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	var got struct{ Instances []map[string]any }
	if err := json.Unmarshal([]byte(body), &got); err != nil || len(got.Instances) != 1 {
		t.Fatalf("health body %s: %v", body, err)
	}
	self := got.Instances[0]
	// Every field Service Center gives, except the heartbeat settings the
	// exporter has none of.
	wantKeys := slices.DeleteFunc(slices.Sorted(maps.Keys(want.Instances[0])), func(k string) bool { return k == "healthCheck" })
	if gotKeys := slices.Sorted(maps.Keys(self)); !slices.Equal(gotKeys, wantKeys) {
		t.Errorf("instance fields %v, want Service Center's %v", gotKeys, wantKeys)
	}
	for key, pattern := range map[string]string{
		"instanceId": `^[0-9a-f]{32}$`, "serviceId": `^[0-9a-f]{40}$`, "status": `^UP$`,
		"timestamp": `^1795533828$`, "modTimestamp": `^1795533828$`, "version": `^\d+\.\d+\.\d+`,
	} {
		if v, _ := self[key].(string); !regexp.MustCompile(pattern).MatchString(v) {
			t.Errorf("%s = %q, want %s", key, v, pattern)
		}
	}
	if fmt.Sprint(self["endpoints"]) != "[rest://exporter-host:9729/]" {
		t.Errorf("endpoints %v", self["endpoints"])
	}
	// /version carries the same, never empty, version in a plain build.
	_, _, version := f.do("GET", "/version", nil)
	if !strings.Contains(version, `"version":"`+self["version"].(string)+`"`) {
		t.Errorf("/version %s does not carry version %v", version, self["version"])
	}
}

// TestDocsUseValidDumpOptions: every dump link in the README and docs uses
// options the dump knows, and the running configuration is sent to
// options=config (info has the version only).
func TestDocsUseValidDumpOptions(t *testing.T) {
	files := []string{"../README.md", "../docs/runbooks.md", "../docs/configuration.md"}
	option := regexp.MustCompile(`dump\?options=([a-z,]+)`)
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			for _, m := range option.FindAllStringSubmatch(line, -1) {
				if want, bad := parseDumpOptions(m[1]); want == nil {
					t.Errorf("%s:%d: unknown dump option %q", file, i+1, bad)
				}
			}
			if strings.Contains(strings.ToLower(line), "configuration in force") && strings.Contains(line, "dump?options=") &&
				!strings.Contains(line, "options=config") {
				t.Errorf("%s:%d: the configuration in force is in options=config: %s", file, i+1, line)
			}
		}
	}
}

// TestLifecycleNeedsFlag: without --web.enable-lifecycle, POST /-/reload is
// refused (403, as Prometheus does) and never reloads.
func TestLifecycleNeedsFlag(t *testing.T) {
	f := newFixture(t)
	reloads := 0
	h, err := NewHandler(Options{
		Alarms: f.center, Health: alarm.NewHealthChecker(f.center), Metrics: http.NotFoundHandler(),
		Reload: func() error { reloads++; return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/-/reload", nil))
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "--web.enable-lifecycle") || reloads != 0 {
		t.Errorf("POST /-/reload without the flag: %d %q, %d reloads; want 403 naming the flag and none", rec.Code, rec.Body, reloads)
	}
}
