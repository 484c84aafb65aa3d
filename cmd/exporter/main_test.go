package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-kit/log"
	"golang.org/x/crypto/bcrypt"

	"github.com/servicecomb/servicecomb_exporter/internal/logging"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/logbuf"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/loopback"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/registrytest"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/wait"
)

// exporterUnderTest is the whole exporter running in-process on a loopback
// listener with a random port.
type exporterUnderTest struct {
	t       *testing.T
	baseURL string
	client  *http.Client
	stop    func() error
	logs    *logbuf.Buffer
}

func startExporter(t *testing.T, extraArgs ...string) *exporterUnderTest {
	t.Helper()
	logs := &logbuf.Buffer{}
	logger, err := logging.New(logs, "debug", "logfmt")
	if err != nil {
		t.Fatal(err)
	}
	addr, stop := runInProcess(t, extraArgs, logger)
	e := &exporterUnderTest{
		t:       t,
		baseURL: "http://" + addr,
		client:  &http.Client{Timeout: 5 * time.Second},
		stop:    stop,
		logs:    logs,
	}
	t.Cleanup(func() {
		if err := e.stop(); err != nil {
			t.Errorf("exporter returned %v", err)
		}
	})
	e.waitFor("serving", func() bool { s, _ := e.get("/-/healthy", nil); return s == 200 })
	return e
}

// runInProcess runs the exporter with args on a loopback address until stop
// is called or the test ends; stop returns what runExporter returned.
func runInProcess(tb testing.TB, args []string, logger log.Logger) (addr string, stop func() error) {
	tb.Helper()
	f, err := parseFlags(args, io.Discard, io.Discard)
	if err != nil {
		tb.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runExporter(ctx, f, logger, []net.Listener{l}) }()
	var once sync.Once
	var result error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case result = <-done:
			case <-time.After(20 * time.Second):
				tb.Fatal("exporter did not stop within 20s")
			}
		})
		return result
	}
	tb.Cleanup(func() { _ = stop() })
	return l.Addr().String(), stop
}

func (e *exporterUnderTest) request(method, path string, header http.Header) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.baseURL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (e *exporterUnderTest) get(path string, header http.Header) (int, string) {
	return e.request(http.MethodGet, path, header)
}

func (e *exporterUnderTest) waitFor(what string, cond func() bool) {
	e.t.Helper()
	wait.For(e.t, what, 10*time.Second, cond, wait.Detail(func() string { return "logs:\n" + e.logs.String() }))
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestExporterWithoutConfigServesEveryEndpoint(t *testing.T) {
	e := startExporter(t)
	for _, tt := range []struct {
		method, path string
		status       int
		contains     string
	}{
		{"GET", "/", 200, "ServiceComb Exporter"},
		{"GET", "/metrics", 200, "servicecomb_exporter_build_info"},
		{"GET", "/-/healthy", 200, "Healthy"},
		{"GET", "/-/ready", 200, "Ready"},
		{"POST", "/-/reload", 403, "--web.enable-lifecycle"}, // off by default
		{"TRACE", "/metrics", 405, "Method not allowed"},
		{"GET", "/health", 200, `"status":"UP"`},
		{"GET", "/v4/default/registry/health", 200, `"instances"`},
		{"GET", "/version", 200, `"apiVersion":"4.0.0"`},
		{"GET", "/v4/default/admin/alarms", 200, "{}"},
		{"DELETE", "/v4/default/admin/alarms", 200, ""},
		{"GET", "/v4/default/admin/dump?options=all", 200, `"config":{`},
	} {
		status, body := e.request(tt.method, tt.path, nil)
		if status != tt.status || !strings.Contains(body, tt.contains) {
			t.Errorf("%s %s: %d %.200s; want %d containing %q", tt.method, tt.path, status, body, tt.status, tt.contains)
		}
	}
	_, metrics := e.get("/metrics", nil)
	for _, want := range []string{
		"servicecomb_healthy 1",
		`servicecomb_notify_queue_capacity{type="ALARM"} 1000`,
		`servicecomb_notify_subscribers{type="ALARM"} 2`, // the log and the forwarder
		"servicecomb_alertmanager_alertmanagers 0",
		"servicecomb_exporter_config_last_reload_successful 1",
		"go_goroutines", "process_cpu_seconds_total",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if err := e.stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	if status, _ := e.get("/-/healthy", nil); status != 0 {
		t.Errorf("still serving after stop: %d", status)
	}
}

func TestReloadKeepsRunningConfigOnError(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.yml")
	writeFile(t, cfgFile, "global:\n  external_url: http://first.example:9729/\n")
	e := startExporter(t, "--config.file", cfgFile, "--web.enable-lifecycle")

	dumpHas := func(s string) bool {
		_, body := e.get("/v4/default/admin/dump?options=config", nil)
		return strings.Contains(body, s)
	}
	if !dumpHas("first.example") {
		t.Fatal("initial config not in dump")
	}

	// A bad file: the reload fails naming key and line, the old config stays.
	writeFile(t, cfgFile, "global:\n  external_url: http://second.example:9729/\n  bogus_key: 1\n")
	status, body := e.request("POST", "/-/reload", nil)
	if status != 500 || !strings.Contains(body, ":3:") || !strings.Contains(body, "bogus_key") {
		t.Errorf("bad reload: %d %s; want 500 naming line 3 and bogus_key", status, body)
	}
	if !dumpHas("first.example") || dumpHas("second.example") {
		t.Error("failed reload changed the running config")
	}
	if logs := e.logs.String(); !strings.Contains(logs, `msg="configuration not loaded, keeping the running one"`) {
		t.Errorf("failed reload not logged as keeping the running config:\n%s", logs)
	}
	_, metrics := e.get("/metrics", nil)
	if !strings.Contains(metrics, "servicecomb_exporter_config_last_reload_successful 0") ||
		!strings.Contains(metrics, `servicecomb_exporter_config_reloads_total{result="failure"} 1`) {
		t.Error("failed reload not reflected in metrics")
	}

	// SIGHUP re-reads a fixed file.
	writeFile(t, cfgFile, "global:\n  external_url: http://third.example:9729/\n")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	e.waitFor("SIGHUP reload", func() bool { return dumpHas("third.example") })
	_, metrics = e.get("/metrics", nil)
	if !strings.Contains(metrics, "servicecomb_exporter_config_last_reload_successful 1") {
		t.Error("successful reload not reflected in metrics")
	}
}

func TestSecretsStayOutOfDumpAndLogs(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.yml")
	const secret = "hunter2-very-secret"
	writeFile(t, cfgFile, fmt.Sprintf(`sources:
  - name: main
    etcd:
      endpoints: [http://127.0.0.1:2379]
      username: root
      password: %s
alerting:
  alertmanagers:
    - url: http://127.0.0.1:9093
      http_config:
        bearer_token: %s
`, secret, secret))
	t.Setenv("SERVICECOMB_SECRET_ENV", secret)
	e := startExporter(t, "--config.file", cfgFile)
	status, body := e.get("/v4/default/admin/dump?options=info,config,env,exporter", nil)
	if status != 200 || strings.Contains(body, secret) || !strings.Contains(body, "secret") {
		t.Errorf("dump: %d, contains the secret: %v\n%s", status, strings.Contains(body, secret), body)
	}
	// With the cache, of an etcd that may not be there: error or not, no secret.
	if status, body := e.get("/v4/default/admin/dump?options=all", nil); status == 0 || strings.Contains(body, secret) {
		t.Errorf("dump all: %d, contains the secret: %v\n%s", status, strings.Contains(body, secret), body)
	}
	_, metrics := e.get("/metrics", nil)
	if strings.Contains(metrics, secret) {
		t.Error("metrics contain the secret")
	}
	if err := e.stop(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(e.logs.String(), secret) {
		t.Error("logs contain the secret")
	}
}

func TestBasicAuthFromWebConfig(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webCfg := filepath.Join(t.TempDir(), "web.yml")
	writeFile(t, webCfg, fmt.Sprintf("basic_auth_users:\n  prometheus: %s\n", hash))
	e := startExporterAuth(t, webCfg)
	if status, _ := e.get("/metrics", nil); status != http.StatusUnauthorized {
		t.Errorf("without credentials: %d, want 401", status)
	}
	auth := http.Header{"Authorization": {"Basic cHJvbWV0aGV1czpzM2NyZXQ="}} // prometheus:s3cret
	if status, _ := e.get("/metrics", auth); status != 200 {
		t.Errorf("with credentials: %d, want 200", status)
	}
}

// startExporterAuth starts the exporter behind basic auth and waits for it
// with credentials.
func startExporterAuth(t *testing.T, webCfg string) *exporterUnderTest {
	t.Helper()
	addr, stop := runInProcess(t, []string{"--web.config.file", webCfg}, log.NewNopLogger())
	e := &exporterUnderTest{t: t, baseURL: "http://" + addr, client: &http.Client{Timeout: 5 * time.Second}, stop: stop, logs: &logbuf.Buffer{}}
	e.waitFor("listening", func() bool { s, _ := e.get("/-/healthy", nil); return s != 0 })
	return e
}

func TestRunExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	writeFile(t, bad, "registry:\n  exclude_global_services: maybe\n")
	badAM := filepath.Join(dir, "bad-am.yml")
	writeFile(t, badAM, "alerting:\n  alertmanagers:\n    - url: http://127.0.0.1:9093\n      http_config:\n        authorization:\n          credentials_file: /nonexistent/token\n")
	tests := []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"version", []string{"--version"}, 0, ""},
		{"unknown flag", []string{"--no-such-flag"}, 2, "no-such-flag"},
		{"bad log level", []string{"--log.level", "loud"}, 2, "log.level"},
		{"bad config names key and line", []string{"--config.file", bad, "--web.listen-address", "127.0.0.1:0"}, 1, "bad.yml:2"},
		{"unreadable Alertmanager credentials", []string{"--config.file", badAM, "--web.listen-address", "127.0.0.1:0"}, 1,
			"alerting.alertmanagers[0].http_config.authorization.credentials_file"},
		{"missing config file", []string{"--config.file", filepath.Join(dir, "nope.yml"), "--web.listen-address", "127.0.0.1:0"}, 1, "nope.yml"},
		{"bad web config", []string{"--web.config.file", filepath.Join(dir, "nope-web.yml"), "--web.listen-address", "127.0.0.1:0"}, 1, "web.config.file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			if !strings.Contains(stderr.String()+stdout.String(), tt.contains) {
				t.Errorf("output lacks %q:\n%s%s", tt.contains, stdout.String(), stderr.String())
			}
		})
	}
}

func TestExporterWithEtcdSource(t *testing.T) {
	etcdEndpoint, c := startEtcd(t)
	w := registrytest.NewWorld(t, c, 22)
	for i := 0; i < 60; i++ {
		w.RandomOp()
	}
	cfgFile := filepath.Join(t.TempDir(), "config.yml")
	writeFile(t, cfgFile, fmt.Sprintf("sources:\n  - name: main\n    etcd:\n      endpoints: [%s]\n", etcdEndpoint))
	e := startExporter(t, "--config.file", cfgFile)
	e.waitFor("ready", func() bool { s, _ := e.get("/-/ready", nil); return s == 200 })

	want, _ := registrytest.CountFromEtcd(t, c)
	_, metrics := e.get("/metrics", nil)
	var wantInstances int64
	for g, n := range want.Instances {
		wantInstances += n
		line := fmt.Sprintf(`servicecomb_registry_instances{domain=%q,project=%q,source="main",status=%q} %d`, g.Domain, g.Project, g.Status, n)
		if !strings.Contains(metrics, line) {
			t.Errorf("metrics lack %s", line)
		}
	}
	if wantInstances == 0 {
		t.Fatal("the test registry has no instances")
	}
	for _, line := range []string{
		fmt.Sprintf(`servicecomb_registry_domains{source="main"} %d`, len(want.Domains)),
		`servicecomb_registry_source_up{source="main"} 1`,
		`servicecomb_registry_syncs_total{result="success",source="main"} 1`,
	} {
		if !strings.Contains(metrics, line) {
			t.Errorf("metrics lack %s", line)
		}
	}
	status, dump := e.get("/v4/default/admin/dump?options=exporter", nil)
	if status != 200 || !strings.Contains(dump, `"sources":[{"source":"main","type":"etcd","up":true,"synced":true`) {
		t.Errorf("dump: %d %.300s", status, dump)
	}
	// One style for durations: Go duration strings, as uptime.
	_, dump = e.get("/v4/default/admin/dump?options=info,exporter", nil)
	if !regexp.MustCompile(`"syncDuration":"[0-9.]+(ns|µs|ms|s)"`).MatchString(dump) ||
		!regexp.MustCompile(`"uptime":"[0-9hms.]+"`).MatchString(dump) {
		t.Errorf("dump durations are not duration strings: %.600s", dump)
	}
}

func TestHealthcheckCommand(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.yml")
	// An etcd that is not there: the exporter becomes unhealthy.
	deadEtcd := "http://" + loopback.FreeAddress(t)
	writeFile(t, cfgFile, "")
	good := startExporter(t)
	writeFile(t, cfgFile, fmt.Sprintf("sources:\n  - name: main\n    etcd:\n      endpoints: [%s]\n      dial_timeout: 1s\n", deadEtcd))
	bad := startExporter(t, "--config.file", cfgFile)

	check := func(url string) (int, string) {
		var stdout, stderr bytes.Buffer
		code := run([]string{"healthcheck", "--url", url, "--timeout", "2s"}, &stdout, &stderr)
		return code, stdout.String() + stderr.String()
	}
	if code, out := check(good.baseURL + "/health"); code != 0 {
		t.Errorf("healthy exporter: exit %d (%s)", code, out)
	}
	bad.waitFor("unhealthy", func() bool { code, _ := check(bad.baseURL + "/health"); return code == 1 })
	if _, out := check(bad.baseURL + "/health"); !strings.Contains(out, "400002") {
		t.Errorf("unhealthy output lacks the error body: %s", out)
	}
	if code, out := check(deadEtcd + "/health"); code != 2 {
		t.Errorf("nothing listening: exit %d (%s), want 2", code, out)
	}
}

// TestExporterWithServiceCenterSource runs the exporter against a server
// replaying a real Service Center's recorded answers.
func TestExporterWithServiceCenterSource(t *testing.T) {
	sc := replayServiceCenter(t)
	cfgFile := filepath.Join(t.TempDir(), "config.yml")
	writeFile(t, cfgFile, fmt.Sprintf("sources:\n  - name: sc\n    servicecenter:\n      endpoints: [%s]\n      poll_interval: 1s\n", sc.URL))
	e := startExporter(t, "--config.file", cfgFile)
	e.waitFor("ready", func() bool { s, _ := e.get("/-/ready", nil); return s == 200 })
	_, metrics := e.get("/metrics", nil)
	for _, want := range []string{
		fmt.Sprintf(`servicecomb_service_center_healthy{endpoint=%q} 1`, sc.URL),
		`servicecomb_registry_source_up{source="sc"} 1`,
		`servicecomb_registry_domains{source="sc"} 2`,
		`servicecomb_registry_instances{domain="tenant-a",project="proj-x",source="sc",status="UP"} 2`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestBadConfigAtStartupLoggedOnce: with nothing running yet, a bad file is
// reported once, one line per problem, and not as "keeping the running one".
func TestBadConfigAtStartupLoggedOnce(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yml")
	writeFile(t, bad, "global:\n  extrnal_url: x\nregistry:\n  exclude_global_services: maybe\n")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--config.file", bad, "--web.listen-address", "127.0.0.1:0"}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	out := stderr.String()
	for _, problem := range []string{"bad.yml:2: global.extrnal_url: unknown key", "bad.yml:4: registry.exclude_global_services: cannot parse"} {
		if n := strings.Count(out, problem); n != 1 {
			t.Errorf("%q logged %d times, want once:\n%s", problem, n, out)
		}
	}
	if strings.Contains(out, "keeping the running one") || strings.Contains(out, `\n`) {
		t.Errorf("misleading or escaped log:\n%s", out)
	}
	var errorLines int
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.Contains(line, "level=error") {
			errorLines++
		}
	}
	if errorLines != 2 {
		t.Errorf("%d error lines, want one per problem:\n%s", errorLines, out)
	}
}

// TestReloadRefusesBlankFile: a reload that finds the file empty (or
// whitespace only, as when caught half-written) keeps the running sources;
// an empty file at start-up is a valid, deliberate configuration.
func TestReloadRefusesBlankFile(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.yml")
	writeFile(t, cfgFile, "  \n\n")
	e := startExporter(t, "--config.file", cfgFile, "--web.enable-lifecycle")
	if status, body := e.request("POST", "/-/reload", nil); status != 200 {
		t.Fatalf("reloading an empty file without sources: %d %s", status, body)
	}
	writeFile(t, cfgFile, "sources:\n  - name: main\n    etcd:\n      endpoints: [http://127.0.0.1:1]\n")
	if status, body := e.request("POST", "/-/reload", nil); status != 200 {
		t.Fatalf("reload with a source: %d %s", status, body)
	}
	for name, content := range map[string]string{"empty": "", "whitespace": " \n\t \n", "comments only": "# sources:\n"} {
		writeFile(t, cfgFile, content)
		status, body := e.request("POST", "/-/reload", nil)
		if status != 500 || !strings.Contains(body, cfgFile) || !strings.Contains(body, "empty") {
			t.Errorf("%s file on reload: %d %s; want 500 naming the file as empty", name, status, body)
		}
		if _, dump := e.get("/v4/default/admin/dump?options=config", nil); !strings.Contains(dump, `"name":"main"`) {
			t.Errorf("%s file on reload removed the running source:\n%s", name, dump)
		}
	}
	// Emptying on purpose takes a key.
	writeFile(t, cfgFile, "sources: []\n")
	if status, body := e.request("POST", "/-/reload", nil); status != 200 {
		t.Errorf("reload with sources: []: %d %s", status, body)
	}
}

// TestHeldConnectionsAreClosed: a request that announces a body and never
// sends it, and a keep-alive connection left idle, are closed after the
// read and idle timeouts; oversized headers are refused.
func TestHeldConnectionsAreClosed(t *testing.T) {
	e := startExporter(t, "--web.read-timeout=300ms", "--web.idle-timeout=300ms", "--web.max-header-bytes=4KiB")
	addr := strings.TrimPrefix(e.baseURL, "http://")
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// closedWithin reads (and drops) whatever the server sends until it
	// closes the connection, failing if it is still open after d.
	closedWithin := func(what string, c net.Conn, d time.Duration) string {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(d))
		got, err := io.ReadAll(c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("%s: connection still open after %v", what, d)
		}
		return string(got)
	}
	const wait = 5 * time.Second

	slowBody := dial()
	fmt.Fprintf(slowBody, "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
	closedWithin("request body never sent", slowBody, wait)

	slowHeaders := dial()
	fmt.Fprintf(slowHeaders, "GET /metrics HTTP/1.1\r\nHost: x\r\n")
	closedWithin("headers never finished", slowHeaders, wait)

	idle := dial()
	fmt.Fprintf(idle, "GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
	if answer := closedWithin("idle keep-alive connection", idle, wait); !strings.HasPrefix(answer, "HTTP/1.1 200") {
		t.Errorf("idle keep-alive connection: answer %q", answer)
	}

	big := dial()
	fmt.Fprintf(big, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 16<<10))
	if answer := closedWithin("oversized headers", big, wait); !strings.HasPrefix(answer, "HTTP/1.1 431") {
		t.Errorf("oversized headers: answer %.40q, want 431", answer)
	}
}

// TestSIGHUPReloadsWithoutLifecycleFlag: --web.enable-lifecycle only gates
// the HTTP endpoint; SIGHUP always reloads.
func TestSIGHUPReloadsWithoutLifecycleFlag(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "config.yml")
	writeFile(t, cfgFile, "global:\n  external_url: http://before.example:9729/\n")
	e := startExporter(t, "--config.file", cfgFile)
	writeFile(t, cfgFile, "global:\n  external_url: http://after.example:9729/\n")
	if status, _ := e.request("POST", "/-/reload", nil); status != http.StatusForbidden {
		t.Errorf("POST /-/reload without --web.enable-lifecycle: %d, want 403", status)
	}
	if _, body := e.get("/v4/default/admin/dump?options=config", nil); !strings.Contains(body, "before.example") {
		t.Fatal("the refused POST /-/reload changed the configuration")
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	e.waitFor("SIGHUP reload", func() bool {
		_, body := e.get("/v4/default/admin/dump?options=config", nil)
		return strings.Contains(body, "after.example")
	})
}
