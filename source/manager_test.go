package source

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"golang.org/x/time/rate"

	"github.com/servicecomb/servicecomb_exporter/alarm"
	"github.com/servicecomb/servicecomb_exporter/config"
	"github.com/servicecomb/servicecomb_exporter/internal/embedetcd"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/registrytest"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/testcerts"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/wait"
	"github.com/servicecomb/servicecomb_exporter/notify"
	"github.com/servicecomb/servicecomb_exporter/registry"
	"github.com/servicecomb/servicecomb_exporter/source/servicecenter"
)

// env is a manager wired to a real alarm center and health checker.
type env struct {
	t       *testing.T
	center  *alarm.Center
	health  *alarm.HealthChecker
	manager *Manager
}

func newEnv(t *testing.T) *env {
	t.Helper()
	bus := notify.New(nil)
	center, err := alarm.NewCenter(bus, nil, alarm.WithQueue(notify.DefaultQueueSize, 0))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t}
	e.center = center
	// The manager's log goes to the test's, to show what happened if a
	// test fails.
	e.manager = NewManager(log.NewLogfmtLogger(testWriter{t}), e.center)
	e.health = alarm.NewHealthChecker(e.center, e.manager)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = bus.Run(ctx) }()
	go func() { defer wg.Done(); _ = e.manager.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait(); e.center.Close() })
	return e
}

// testWriter writes log lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func (e *env) apply(sources ...config.SourceConfig) error {
	cfg := config.Default()
	cfg.Sources = sources
	return e.manager.ApplyConfig(cfg)
}

func etcdSource(name string, endpoints ...string) config.SourceConfig {
	return config.SourceConfig{Name: name, Etcd: &config.EtcdConfig{
		Endpoints: endpoints, Prefix: registrytest.Prefix,
		DialTimeout: model.Duration(2 * time.Second), RequestTimeout: model.Duration(5 * time.Second),
	}}
}

func (e *env) snapshot(name string) registry.Snapshot {
	for _, s := range e.manager.Snapshots() {
		if s.Source == name {
			return s
		}
	}
	return registry.Snapshot{}
}

func (e *env) alarmActive() (bool, string) {
	a, ok := e.center.Get("", alarm.BackendConnectionRefuse)
	return ok && a.Active(), a.Detail()
}

func TestBackendOutageRaisesAndClearsAlarm(t *testing.T) {
	dir := t.TempDir()
	server := registrytest.StartEtcd(t, embedetcd.Options{Dir: dir})
	address := strings.TrimPrefix(server.Endpoint, "http://")
	c := registrytest.Client(t, server.Endpoint)
	w := registrytest.NewWorld(t, c, 11)
	for i := 0; i < 30; i++ {
		w.RandomOp()
	}
	e := newEnv(t)
	src := etcdSource("main", server.Endpoint)
	// Short probes, so that the outage below lasts enough retries for an
	// uncapped backoff to exceed the recovery bound.
	src.Etcd.RequestTimeout = model.Duration(time.Second)
	if err := e.apply(src); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "ready", 10*time.Second, e.manager.Ready)
	if err := e.health.Healthy(); err != nil {
		t.Fatalf("unhealthy while etcd is up: %v", err)
	}

	closing := time.Now()
	server.Close() // may take seconds: etcd lets open streams finish first
	stopped := time.Now()
	wait.For(t, "unhealthy after etcd stopped", 30*time.Second, func() bool { return e.health.Healthy() != nil })
	if took := time.Since(stopped); took > 5*time.Second {
		t.Errorf("BackendConnectionRefuse raised %v after etcd stopped (closing took %v), want within 5s",
			took, stopped.Sub(closing))
	}
	active, detail := e.alarmActive()
	if !active || !strings.Contains(detail, server.Endpoint) || !strings.Contains(detail, "main") {
		t.Errorf("alarm active %v, detail %q: want the source and its endpoints", active, detail)
	}
	// The underlying cause, not only "context deadline exceeded", in the
	// alarm, the health answer and the dump.
	if !strings.Contains(detail, "connection refused") {
		t.Errorf("alarm detail %q does not name the cause (connection refused)", detail)
	}
	if err := e.health.Healthy(); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("health %v: want the cause", err)
	}
	if last := e.snapshot("main").LastError; !strings.Contains(last, "connection refused") {
		t.Errorf("snapshot lastError %q: want the cause", last)
	}
	if e.snapshot("main").Up {
		t.Error("source still up")
	}

	// Level, not edge: emptying the alarm list while etcd is still down
	// leaves the exporter unhealthy, and the alarm comes back within one
	// check interval.
	e.center.ClearAll()
	if err := e.health.Healthy(); err == nil {
		t.Error("healthy right after DELETE alarms while etcd is down")
	}
	cleared := time.Now()
	wait.For(t, "alarm raised again after ClearAll", 10*time.Second, func() bool { active, _ := e.alarmActive(); return active })
	t.Logf("BackendConnectionRefuse raised again %v after ClearAll", time.Since(cleared))
	if took := time.Since(cleared); took > 5*time.Second {
		t.Errorf("BackendConnectionRefuse raised again %v after ClearAll, want within 5s", took)
	}

	// Six failed attempts: with backoff doubling from 250ms, an uncapped
	// backoff would now wait 4-8s before the next attempt.
	wait.For(t, "six failed syncs", 45*time.Second, func() bool { return e.snapshot("main").Syncs["failure"] >= 6 })
	restarted := registrytest.StartEtcd(t, embedetcd.Options{Dir: dir, ClientAddress: address})
	serving := time.Now() // StartEtcd returns once etcd serves
	wait.For(t, "alarm cleared after etcd returned", 30*time.Second, func() bool {
		active, _ := e.alarmActive()
		return !active && e.health.Healthy() == nil
	})
	took := time.Since(serving)
	t.Logf("alarm cleared and health back %v after etcd served again", took)
	if took > 5*time.Second {
		t.Errorf("alarm cleared and health back %v after etcd served again, want within 5s", took)
	}
	c2 := registrytest.Client(t, restarted.Endpoint)
	w2 := registrytest.NewWorld(t, c2, 12) // changes after the outage are counted too
	for i := 0; i < 20; i++ {
		w2.RandomOp()
	}
	if err := e.health.Healthy(); err != nil {
		t.Errorf("unhealthy after recovery: %v", err)
	}
	a, _ := e.center.Get("", alarm.BackendConnectionRefuse)
	if a.Status != alarm.Cleared {
		t.Errorf("alarm status %s, want CLEARED and still listed", a.Status)
	}
	want, rev := registrytest.CountFromEtcd(t, c2)
	wait.For(t, "source caught up", 10*time.Second, func() bool { return e.snapshot("main").Revision >= rev })
	if got := e.snapshot("main").Counts; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("counts after recovery:\n got %v\nwant %v", got, want)
	}
}

func TestTLSWithClientCertificates(t *testing.T) {
	certs := testcerts.Write(t, t.TempDir())
	server := registrytest.StartEtcd(t, embedetcd.Options{Dir: t.TempDir(), CertFile: certs.ServerCert, KeyFile: certs.ServerKey,
		TrustedCAFile: certs.CA, ClientCertAuth: true})
	if !strings.HasPrefix(server.Endpoint, "https://") {
		t.Fatalf("endpoint %s is not TLS", server.Endpoint)
	}
	e := newEnv(t)
	good := etcdSource("tls", server.Endpoint)
	good.Etcd.TLSConfig = commoncfg.TLSConfig{CAFile: certs.CA, CertFile: certs.ClientCert, KeyFile: certs.ClientKey}
	noClientCert := etcdSource("no-client-cert", server.Endpoint)
	noClientCert.Etcd.TLSConfig = commoncfg.TLSConfig{CAFile: certs.CA}
	if err := e.apply(good, noClientCert); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "TLS source synced", 20*time.Second, func() bool { return e.snapshot("tls").Synced })
	wait.For(t, "alarm for the source without a client certificate", 20*time.Second, func() bool {
		active, detail := e.alarmActive()
		return active && strings.Contains(detail, "no-client-cert")
	})
	if _, detail := e.alarmActive(); !strings.Contains(detail, "tls: certificate required") {
		t.Errorf("detail %q: want the TLS error", detail)
	}
	if _, detail := e.alarmActive(); strings.Contains(detail, "etcd source tls ") {
		t.Errorf("the working TLS source is reported down: %s", detail)
	}
}

func TestWrongCredentials(t *testing.T) {
	server := registrytest.StartEtcd(t, embedetcd.Options{Dir: t.TempDir()})
	c := registrytest.Client(t, server.Endpoint)
	ctx := context.Background()
	for _, step := range []func() error{
		func() error { _, err := c.UserAdd(ctx, "root", "root-pw"); return err },
		func() error { _, err := c.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := c.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	passwordFile := filepath.Join(dir, "password")
	if err := os.WriteFile(passwordFile, []byte("wrong-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	src := etcdSource("auth", server.Endpoint)
	src.Etcd.Username, src.Etcd.PasswordFile = "root", passwordFile
	// etcd checks the password with bcrypt, which the race detector slows
	// down tenfold in this process: give the authentication time to answer
	// instead of timing out.
	src.Etcd.DialTimeout = model.Duration(15 * time.Second)
	if err := e.apply(src); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "alarm for wrong credentials", 20*time.Second, func() bool {
		active, _ := e.alarmActive()
		return active
	})
	if _, detail := e.alarmActive(); !strings.Contains(detail, "authentication failed") || strings.Contains(detail, "wrong-pw") {
		t.Errorf("detail %q: want a clear authentication error without the password", detail)
	}
	// A changed password file is picked up by a reload.
	if err := os.WriteFile(passwordFile, []byte("root-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.apply(src); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "synced with the right password", 20*time.Second, func() bool { return e.snapshot("auth").Synced })
	wait.For(t, "alarm cleared", 10*time.Second, func() bool { active, _ := e.alarmActive(); return !active })
}

func TestApplyConfig(t *testing.T) {
	server := registrytest.StartEtcd(t, embedetcd.Options{Dir: t.TempDir()})
	e := newEnv(t)
	if err := e.apply(etcdSource("a", server.Endpoint), etcdSource("dead", "http://127.0.0.1:1")); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "a synced", 10*time.Second, func() bool { return e.snapshot("a").Synced })
	wait.For(t, "dead reported", 20*time.Second, func() bool { active, _ := e.alarmActive(); return active })
	if e.manager.Ready() {
		t.Error("ready although a source never synced")
	}
	syncsBefore := e.snapshot("a").Syncs["success"]

	// A configuration that cannot be built changes nothing.
	bad := etcdSource("b", server.Endpoint)
	bad.Etcd.PasswordFile = "/nonexistent/password"
	if err := e.apply(etcdSource("a", server.Endpoint), bad); err == nil || !strings.Contains(err.Error(), "sources[1] (b)") {
		t.Fatalf("bad source: %v", err)
	}
	if names := sourceNames(e.manager); names != "[a dead]" {
		t.Fatalf("sources after a failed apply: %s", names)
	}

	// Removing the dead source clears the alarm; the unchanged one keeps
	// running without a new sync.
	if err := e.apply(etcdSource("a", server.Endpoint)); err != nil {
		t.Fatal(err)
	}
	if active, detail := e.alarmActive(); active {
		t.Errorf("alarm still active after the dead source was removed: %s", detail)
	}
	if got := e.snapshot("a").Syncs["success"]; got != syncsBefore {
		t.Errorf("unchanged source was restarted (%d syncs, had %d)", got, syncsBefore)
	}
	if !e.manager.Ready() {
		t.Error("not ready with every source synced")
	}

	// An instance registered now is counted by the running source.
	c := registrytest.Client(t, server.Endpoint)
	dp := registry.DomainProject{Domain: "d", Project: "p"}
	if _, err := c.Put(context.Background(), registrytest.Prefix+"/inst/files/d/p/s/i", `{"status":"UP"}`); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "the registration counted", 10*time.Second, func() bool { return e.snapshot("a").Churn.Registrations[dp] == 1 })

	// registry.per_service and registry.quota are applied by the
	// collector: changing them restarts no source, and the counters go on.
	perService := config.Default()
	perService.Sources = []config.SourceConfig{etcdSource("a", server.Endpoint)}
	perService.Registry.PerService.MaxServices = 1
	perService.Registry.PerService.Exclude.App = []string{"x"}
	perService.Registry.Quota = config.QuotaConfig{Services: 1, Instances: 2}
	if err := e.manager.ApplyConfig(perService); err != nil {
		t.Fatal(err)
	}
	if got := e.snapshot("a").Syncs["success"]; got != syncsBefore {
		t.Errorf("a registry.per_service or quota change restarted the source (%d syncs, had %d)", got, syncsBefore)
	}
	if got := e.snapshot("a").Churn.Registrations[dp]; got != 1 {
		t.Errorf("registrations after a reload that kept the source: %d, want 1", got)
	}

	// A changed source restarts.
	changed := etcdSource("a", server.Endpoint)
	changed.Etcd.RequestTimeout = model.Duration(6 * time.Second)
	if err := e.apply(changed); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "restarted source synced", 10*time.Second, func() bool {
		s := e.snapshot("a")
		return s.Synced && s.Syncs["success"] == 1
	})
	// Its counters go on: its first list counts nothing, the next
	// registration adds to what the replaced Source counted.
	if got := e.snapshot("a").Churn.Registrations[dp]; got != 1 {
		t.Errorf("registrations after a restart: %d, want 1 (kept)", got)
	}
	if _, err := c.Put(context.Background(), registrytest.Prefix+"/inst/files/d/p/s/j", `{"status":"UP"}`); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "the next registration counted on top", 10*time.Second, func() bool { return e.snapshot("a").Churn.Registrations[dp] == 2 })
	dump := e.manager.Dump()
	if len(dump.Sources) != 1 || dump.Sources[0].Source != "a" {
		t.Errorf("dump: %+v", dump)
	}
}

func sourceNames(m *Manager) string {
	var names []string
	for _, s := range m.Snapshots() {
		names = append(names, s.Source)
	}
	return fmt.Sprint(names)
}

// A reload rebuilds a changed Service Center source; its login limiter must
// survive, or each reload would grant new failed logins and get the account
// banned. Removing the source drops the limiter and its AuthenticationFailed.
func TestServiceCenterLoginLimiterAcrossReloads(t *testing.T) {
	e := newEnv(t)
	scSource := func(poll time.Duration) config.SourceConfig {
		sc := config.DefaultServiceCenterConfig()
		sc.Endpoints, sc.PollInterval = []string{"http://127.0.0.1:1"}, model.Duration(poll)
		sc.RequestTimeout, sc.Username, sc.Password = model.Duration(time.Second), "exporter", "secret"
		return config.SourceConfig{Name: "sc", ServiceCenter: &sc}
	}
	limiter := func() *servicecenter.LoginLimiter {
		e.manager.mu.Lock()
		defer e.manager.mu.Unlock()
		return e.manager.logins["sc"]
	}
	if err := e.apply(scSource(time.Hour)); err != nil {
		t.Fatal(err)
	}
	first := limiter()
	if err := e.apply(scSource(2 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if first == nil || limiter() != first {
		t.Fatalf("limiter replaced by a reload: %p, then %p", first, limiter())
	}
	if err := e.center.RaiseFrom("sc", alarm.AuthenticationFailed, alarm.Detail("refused")); err != nil {
		t.Fatal(err)
	}
	if err := e.apply(); err != nil {
		t.Fatal(err)
	}
	if limiter() != nil {
		t.Error("limiter of a removed source kept")
	}
	if a, _ := e.center.Get("sc", alarm.AuthenticationFailed); a.Active() {
		t.Error("AuthenticationFailed of a removed source still active")
	}
}

// rbacServiceCenter is a Service Center with RBAC on, replaying the
// recorded steady registry, with Service Center's limit on failed logins
// (2, then one per 15 minutes; the failure beyond bans the account).
type rbacServiceCenter struct {
	URL      string
	mu       sync.Mutex
	password string
	attempts int
	banned   bool
	limiter  *rate.Limiter
	token    string
}

func newRBACServiceCenter(t *testing.T, password string) *rbacServiceCenter {
	sc := &rbacServiceCenter{password: password, limiter: rate.NewLimiter(rate.Every(15*time.Minute), 2)}
	fixture := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("servicecenter", "testdata", "03-steady", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	bodies := map[string][]byte{
		"/v4/default/admin/dump":       fixture("dump_cache"),
		"/v4/default/admin/alarms":     fixture("alarms"),
		"/v4/default/registry/health":  fixture("health"),
		"/v4/default/registry/version": fixture("version"),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc.mu.Lock()
		defer sc.mu.Unlock()
		switch r.URL.Path {
		case "/v4/token":
			var req struct{ Name, Password string }
			_ = json.NewDecoder(r.Body).Decode(&req)
			sc.attempts++
			switch {
			case sc.banned:
				w.WriteHeader(http.StatusForbidden)
				_, _ = io.WriteString(w, `{"errorCode":"403201","errorMessage":"Account blocked"}`)
			case req.Password != sc.password:
				if !sc.limiter.Allow() {
					sc.banned = true
				}
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = io.WriteString(w, `{"errorCode":"401202","errorMessage":"User name or password is wrong"}`)
			default:
				sc.token = fmt.Sprintf("token-%d", sc.attempts)
				_, _ = fmt.Fprintf(w, `{"token":%q}`, sc.token)
			}
			return
		case "/v4/default/admin/dump", "/v4/default/admin/alarms":
			if sc.token == "" || r.Header.Get("Authorization") != "Bearer "+sc.token {
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = io.WriteString(w, `{"errorCode":"401201","errorMessage":"Request unauthorized"}`)
				return
			}
		}
		b, ok := bodies[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	sc.URL = srv.URL
	return sc
}

func (sc *rbacServiceCenter) state() (attempts int, banned bool) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.attempts, sc.banned
}

// The scenario through the manager: a wrong password_file, polls
// every 50 ms, then a reload with the right one.
func TestReloadFixesWrongServiceCenterPassword(t *testing.T) {
	sc := newRBACServiceCenter(t, "R1ght-Pa55word!")
	e := newEnv(t)
	dir := t.TempDir()
	source := func(password string) config.SourceConfig {
		f := filepath.Join(dir, "password")
		if err := os.WriteFile(f, []byte(password+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := config.Default()
		cfg.Sources = []config.SourceConfig{{Name: "sc", ServiceCenter: &config.ServiceCenterConfig{
			Endpoints: []string{sc.URL}, PollInterval: model.Duration(50 * time.Millisecond),
			RequestTimeout: model.Duration(2 * time.Second), Username: "exporter", PasswordFile: f,
			LoginMaxFailures: 2, LoginFailureInterval: model.Duration(15 * time.Minute),
		}}}
		return cfg.Sources[0]
	}
	if err := e.apply(source("wrong-Pa55word!")); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "AuthenticationFailed", 10*time.Second, func() bool {
		a, _ := e.center.Get("sc", alarm.AuthenticationFailed)
		return a.Active() && a.FieldString("nextLoginAttempt") != ""
	})
	// Many polls later, still two attempts.
	failures := e.snapshot("sc").Syncs["failure"]
	wait.For(t, "ten more polls", 10*time.Second, func() bool { return e.snapshot("sc").Syncs["failure"] >= failures+10 })
	if attempts, banned := sc.state(); attempts != 2 || banned {
		t.Fatalf("%d login attempts (banned %v), want 2", attempts, banned)
	}
	// The dump API quotes Service Center.
	dump := e.manager.Dump()
	if len(dump.Sources) != 1 || !strings.Contains(dump.Sources[0].LastError, `errorCode 401202 "User name or password is wrong"`) {
		t.Errorf("dump: %+v", dump.Sources)
	}
	// The same file again: nothing changes, no attempt.
	if err := e.apply(source("wrong-Pa55word!")); err != nil {
		t.Fatal(err)
	}
	// The right password: one attempt, at once.
	if err := e.apply(source("R1ght-Pa55word!")); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "source up after the reload", 5*time.Second, func() bool { return e.snapshot("sc").Up })
	if attempts, banned := sc.state(); attempts != 3 || banned {
		t.Errorf("%d login attempts (banned %v), want 3", attempts, banned)
	}
	if a, _ := e.center.Get("sc", alarm.AuthenticationFailed); a.Active() {
		t.Errorf("AuthenticationFailed still active: %+v", a)
	}
}
