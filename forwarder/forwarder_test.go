package forwarder

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/servicecomb/servicecomb_exporter/alarm"
	"github.com/servicecomb/servicecomb_exporter/config"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/amtest"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/loopback"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/wait"
	"github.com/servicecomb/servicecomb_exporter/notify"
)

// harness is an alarm center on a bus with a forwarder subscribed.
type harness struct {
	t      testing.TB
	bus    *notify.Bus
	center *alarm.Center
	fwd    *Forwarder
	stop   func()
}

func newHarness(t testing.TB, cfg *config.Config) *harness {
	return newHarnessWith(t, cfg, nil)
}

// newHarnessWith lets a benchmark hook every sent batch.
func newHarnessWith(t testing.TB, cfg *config.Config, onSent func([]*models.PostableAlert, error)) *harness {
	t.Helper()
	bus := notify.New(nil)
	center, err := alarm.NewCenter(bus, nil, alarm.WithQueue(notify.DefaultQueueSize, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, bus: bus, center: center}
	h.fwd = New(Options{Alarms: h.center, FlushTimeout: 2 * time.Second})
	h.fwd.onSent = onSent
	if err := center.Subscribe("alertmanager-forwarder", h.fwd.OnEvent); err != nil {
		t.Fatal(err)
	}
	if err := h.fwd.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = bus.Run(ctx) }()
	go func() { defer wg.Done(); _ = h.fwd.Run(ctx) }()
	var once sync.Once
	h.stop = func() { once.Do(func() { cancel(); wg.Wait(); h.center.Close() }) }
	t.Cleanup(h.stop)
	return h
}

func alertingConfig(resend time.Duration, urls ...string) *config.Config {
	cfg := config.Default()
	cfg.Alerting.ResendInterval = model.Duration(resend)
	cfg.Alerting.ExternalLabels = map[string]string{"env": "test"}
	u, _ := url.Parse("http://exporter.test:9729/")
	cfg.Global.ExternalURL = &commoncfg.URL{URL: u}
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil {
			panic(err)
		}
		cfg.Alerting.Alertmanagers = append(cfg.Alerting.Alertmanagers, config.AlertmanagerConfig{
			URL: &commoncfg.URL{URL: u}, Timeout: model.Duration(time.Second), HTTPClientConfig: commoncfg.DefaultHTTPClientConfig})
	}
	return cfg
}

// activeAlert returns the alert named alertname that am lists, if any. An
// API error fails the test: it must never pass for "no alert".
func activeAlert(t *testing.T, am *amtest.Alertmanager, alertname string) *models.GettableAlert {
	t.Helper()
	alerts, err := am.Alerts()
	if err != nil {
		t.Fatalf("listing Alertmanager's alerts: %v", err)
	}
	for _, a := range alerts {
		if a.Labels["alertname"] == alertname {
			return a
		}
	}
	return nil
}

func metricValue(t *testing.T, am *amtest.Alertmanager, name string, labels ...string) float64 {
	t.Helper()
	v, err := am.Metric(name, labels...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRaiseUpdateClearThroughRealAlertmanager(t *testing.T) {
	am := amtest.Start(t)
	h := newHarness(t, alertingConfig(time.Minute, am.URL))
	const name = "ServiceCombBackendConnectionRefuse"

	if err := h.center.Raise(alarm.BackendConnectionRefuse, alarm.Detail("etcd 127.0.0.1:2379 refused"),
		alarm.Field{Key: "sources", Value: []string{"main"}}); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "alert in Alertmanager", 10*time.Second, func() bool { return activeAlert(t, am, name) != nil })
	got := activeAlert(t, am, name)
	a, _ := h.center.Get("", alarm.BackendConnectionRefuse)
	wantLabels := models.LabelSet{"alertname": name, "severity": "critical", "env": "test"}
	if fmt.Sprint(got.Labels) != fmt.Sprint(wantLabels) {
		t.Errorf("labels %v, want %v", got.Labels, wantLabels)
	}
	if got.Annotations["description"] != "etcd 127.0.0.1:2379 refused" || got.Annotations["summary"] == "" ||
		got.Annotations["sources"] != `["main"]` {
		t.Errorf("annotations %v", got.Annotations)
	}
	if !time.Time(*got.StartsAt).Equal(a.ActivatedAt.Truncate(time.Millisecond)) && time.Time(*got.StartsAt).Sub(a.ActivatedAt).Abs() > time.Millisecond {
		t.Errorf("startsAt %v, want the activation time %v", got.StartsAt, a.ActivatedAt)
	}
	if got.GeneratorURL != "http://exporter.test:9729/v4/default/admin/alarms" {
		t.Errorf("generatorURL %q", got.GeneratorURL)
	}

	if err := h.center.Raise(alarm.BackendConnectionRefuse, alarm.Detail("still refused")); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "updated description", 10*time.Second, func() bool {
		a := activeAlert(t, am, name)
		return a != nil && a.Annotations["description"] == "still refused"
	})

	h.center.Clear(alarm.BackendConnectionRefuse)
	wait.For(t, "alert resolved", 10*time.Second, func() bool { return activeAlert(t, am, name) == nil })
	if n := metricValue(t, am, "alertmanager_alerts_received_total", `status="resolved"`); n < 1 {
		t.Errorf("Alertmanager received %v resolved alerts, want at least 1", n)
	}
}

// TestResolutionSurvivesAlertmanagerRestart: the alarm clears while
// Alertmanager is down; once it is back within the retention, the resend
// delivers the resolution and nothing stays firing.
func TestResolutionSurvivesAlertmanagerRestart(t *testing.T) {
	am := amtest.Start(t)
	h := newHarness(t, alertingConfig(200*time.Millisecond, am.URL))
	const name = "ServiceCombBackendConnectionRefuse"
	if err := h.center.Raise(alarm.BackendConnectionRefuse, alarm.Detail("down")); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "alert firing", 10*time.Second, func() bool { return activeAlert(t, am, name) != nil })

	am.Kill()
	h.center.Clear(alarm.BackendConnectionRefuse)
	am.Restart()
	wait.For(t, "resolution delivered after the restart", 10*time.Second, func() bool {
		return metricValue(t, am, "alertmanager_alerts_received_total", `status="resolved"`) >= 1
	})
	if a := activeAlert(t, am, name); a != nil {
		t.Errorf("alert still firing after the restart: %v", a.Status)
	}
	if n := metricValue(t, am, "alertmanager_alerts", `state="active"`); n != 0 {
		t.Errorf("%v active alerts in Alertmanager, want 0", n)
	}
}

// gate stands between the forwarder and a real Alertmanager. While closed it
// drops the connection of every request without passing it on, so that
// nothing sent meanwhile reaches Alertmanager later (a frozen process would
// still get the request its kernel buffered, once thawed).
type gate struct {
	URL string

	mu             sync.RWMutex // held for reading while a request is passed on
	closed         bool
	droppedResolve atomic.Int64 // resolved alerts in dropped requests
}

func newGate(t *testing.T, target string) *gate {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	g := &gate{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.RLock()
		defer g.mu.RUnlock()
		if !g.closed {
			proxy.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var batch []models.PostableAlert
		_ = json.Unmarshal(body, &batch)
		for _, a := range batch {
			if !time.Time(a.EndsAt).IsZero() && time.Time(a.EndsAt).Before(time.Now()) {
				g.droppedResolve.Add(1)
			}
		}
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	return g
}

// close waits for the requests being passed on, then drops all others.
func (g *gate) close() { g.mu.Lock(); g.closed = true; g.mu.Unlock() }
func (g *gate) open()  { g.mu.Lock(); g.closed = false; g.mu.Unlock() }

// TestResolutionResentAfterDroppedConnection: Alertmanager keeps a firing
// alert it was told about, but the send of the resolution fails (the
// connection is dropped; nothing reaches it). Only the periodic resend of
// resolved alarms can then deliver the resolution, and it must, well before
// the alert would have expired by itself.
func TestResolutionResentAfterDroppedConnection(t *testing.T) {
	am := amtest.Start(t)
	g := newGate(t, am.URL)
	h := newHarness(t, alertingConfig(2*time.Second, g.URL)) // active alerts end 8s after the last send
	const name = "ServiceCombInternalError"
	if err := h.center.Raise(alarm.InternalError, alarm.Detail("GET /x: 500")); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "alert firing", 10*time.Second, func() bool { return activeAlert(t, am, name) != nil })

	g.close()
	// Nothing reaches Alertmanager any more: the alert would expire at
	// the endsAt it has now.
	expires := time.Time(*activeAlert(t, am, name).EndsAt)
	h.center.Clear(alarm.InternalError)
	wait.For(t, "the resolution's send dropped", 5*time.Second, func() bool { return g.droppedResolve.Load() >= 1 })
	if n := metricValue(t, am, "alertmanager_alerts_received_total", `status="resolved"`); n != 0 {
		t.Fatalf("Alertmanager received %v resolved alerts through a closed gate", n)
	}
	g.open()
	wait.For(t, "resolution delivered by a resend", time.Until(expires)+5*time.Second, func() bool {
		return metricValue(t, am, "alertmanager_alerts_received_total", `status="resolved"`) >= 1
	})
	if late := time.Since(expires); late > -time.Second {
		t.Errorf("resolution delivered %v after the alert's own endsAt; a resend should have come well before", late)
	}
	if a := activeAlert(t, am, name); a != nil {
		t.Errorf("alert still firing after the resolution: %v", a.Status)
	}
}

// TestOneAlertmanagerDownDoesNotDelayTheOther: while one Alertmanager holds
// a request for its whole (long) timeout and another refuses connections,
// a new alert still reaches the live one at once.
func TestOneAlertmanagerDownDoesNotDelayTheOther(t *testing.T) {
	const hungTimeout, bound = 10 * time.Second, 2 * time.Second
	am := amtest.Start(t)
	// A port with nothing behind it: connections are refused.
	dead := "http://" + loopback.FreeAddress(t)
	// And one that accepts but never answers: each request hangs until the
	// client gives up, after hungTimeout. (The body is read first: only
	// then does the server notice a client that gives up.)
	hanging := make(chan struct{}, 1)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case hanging <- struct{}{}:
		default:
		}
		<-r.Context().Done()
	}))
	t.Cleanup(hang.Close) // after the forwarder stops, which ends the hung request
	cfg := alertingConfig(time.Minute, dead, hang.URL, am.URL)
	cfg.Alerting.Alertmanagers[1].Timeout = model.Duration(hungTimeout)
	h := newHarness(t, cfg)
	if err := h.center.Raise(alarm.BackendConnectionRefuse, alarm.Detail("x")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-hanging:
	case <-time.After(5 * time.Second):
		t.Fatal("the hanging Alertmanager got no request")
	}
	// The hung Alertmanager now holds a request for hungTimeout.
	start := time.Now()
	if err := h.center.Raise(alarm.InternalError, alarm.Detail("x")); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "the alert in the live Alertmanager", hungTimeout, func() bool {
		return activeAlert(t, am, "ServiceCombInternalError") != nil
	})
	if took := time.Since(start); took > bound {
		t.Errorf("the live Alertmanager got the alert after %v, want within %v while another hangs for %v",
			took.Round(time.Millisecond), bound, hungTimeout)
	}
	if activeAlert(t, am, "ServiceCombBackendConnectionRefuse") == nil {
		t.Error("the first alert is missing in the live Alertmanager")
	}
	wait.For(t, "errors counted for the dead one", 10*time.Second, func() bool {
		return testutil.ToFloat64(h.fwd.metrics.errors.WithLabelValues(dead)) >= 1
	})
}

// TestStaleBusEventIgnored: a bus event older than the state a resend
// already read from the alarm list changes nothing; a newer one is sent.
func TestStaleBusEventIgnored(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	c, f := standalone(t, alertingConfig(time.Hour, srv.URL))
	const id = alarm.BackendConnectionRefuse
	deliver := func(a alarm.Alarm) {
		t.Helper()
		f.OnEvent(alarm.Event{Alarm: a, Definition: c.Definition(id)})
	}
	if err := c.Raise(id, alarm.Detail("first")); err != nil {
		t.Fatal(err)
	}
	raised, _ := c.Get("", id)
	deliver(raised)
	// An update and the clear follow; their events are still on the bus
	// when a resend reads the list.
	if err := c.Raise(id, alarm.Detail("update")); err != nil {
		t.Fatal(err)
	}
	updated, _ := c.Get("", id)
	c.Clear(id)
	cleared, _ := c.Get("", id)
	if !cleared.UpdatedAt.After(updated.UpdatedAt) {
		t.Fatalf("clear at %v is not after the update at %v", cleared.UpdatedAt, updated.UpdatedAt)
	}
	f.Resend()       // reads the cleared alarm from the list
	deliver(updated) // the update's event, late: ignored
	deliver(cleared) // as new as what the resend read: harmless
	if err := c.Raise(id, alarm.Detail("second")); err != nil {
		t.Fatal(err)
	}
	again, _ := c.Get("", id)
	deliver(again) // newer: sent
	runForwarder(t, f)
	// All was queued before the send loop started: the whole queue goes
	// out, and its every alert is recorded before sent_total counts it.
	wait.For(t, "the queue sent", 5*time.Second, func() bool {
		n := total(rec.sizes())
		return n >= 4 && f.QueueLengths()[srv.URL] == 0 && testutil.ToFloat64(f.metrics.sent.WithLabelValues(srv.URL)) == float64(n)
	})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var got []string
	for _, b := range rec.batches {
		for _, a := range b {
			state := "resolved"
			if time.Time(a.EndsAt).After(time.Now()) {
				state = "firing"
			}
			got = append(got, state+":"+a.Annotations["description"])
		}
	}
	if want := "[firing:first resolved:update resolved:update firing:second]"; fmt.Sprint(got) != want {
		t.Errorf("sent %v, want %s: the late update event must not re-fire the cleared alarm", got, want)
	}
}

func TestTwoExportersProduceOneAlert(t *testing.T) {
	am := amtest.Start(t)
	a := newHarness(t, alertingConfig(time.Minute, am.URL))
	b := newHarness(t, alertingConfig(time.Minute, am.URL))
	for _, h := range []*harness{a, b} {
		if err := h.center.Raise(alarm.BackendConnectionRefuse, alarm.Detail("etcd down")); err != nil {
			t.Fatal(err)
		}
	}
	wait.For(t, "both exporters' alerts received", 10*time.Second, func() bool {
		return metricValue(t, am, "alertmanager_alerts_received_total", `status="firing"`) >= 2
	})
	alerts, err := am.Alerts()
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 {
		t.Fatalf("%d alerts in Alertmanager, want 1 (deduplicated)", len(alerts))
	}
}

// recorder is a fake Alertmanager recording each batch it is sent.
type recorder struct {
	mu      sync.Mutex
	batches [][]models.PostableAlert
	headers []http.Header
	status  int
	block   chan struct{} // when set, requests wait for it to close
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body) // first, so that a client giving up ends the request
	if r.block != nil {
		select {
		case <-r.block:
		case <-req.Context().Done():
			return
		}
	}
	var batch []models.PostableAlert
	_ = json.Unmarshal(body, &batch)
	r.mu.Lock()
	r.batches = append(r.batches, batch)
	r.headers = append(r.headers, req.Header.Clone())
	status := r.status
	r.mu.Unlock()
	if status == 0 {
		status = 200
	}
	w.WriteHeader(status)
}

func (r *recorder) sizes() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for _, b := range r.batches {
		out = append(out, len(b))
	}
	return out
}

// raiseMany raises n mirrored alarms without the bus reaching a forwarder.
func raiseMany(t *testing.T, c *alarm.Center, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if err := c.RaiseFrom(fmt.Sprintf("sc-%d", i), "Mirrored"); err != nil {
			t.Fatal(err)
		}
	}
}

// standalone returns a center and a forwarder that is configured but not
// subscribed to the bus nor running, so that a test controls every send.
func standalone(t *testing.T, cfg *config.Config) (*alarm.Center, *Forwarder) {
	t.Helper()
	c, err := alarm.NewCenter(notify.New(nil), nil, alarm.WithQueue(10000, 0))
	if err != nil {
		t.Fatal(err)
	}
	f := New(Options{Alarms: c, FlushTimeout: 2 * time.Second})
	if err := f.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	return c, f
}

func runForwarder(t *testing.T, f *Forwarder) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = f.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func TestBatching(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	cfg := alertingConfig(time.Hour, srv.URL)
	cfg.Alerting.MaxBatchSize = 2
	c, f := standalone(t, cfg)
	raiseMany(t, c, 5)
	f.Resend() // queues all five before the send loop starts
	if got := f.QueueLengths()[srv.URL]; got != 5 {
		t.Fatalf("queue holds %d, want 5", got)
	}
	runForwarder(t, f)
	wait.For(t, "three batches", 5*time.Second, func() bool { return len(rec.sizes()) == 3 })
	if got := fmt.Sprint(rec.sizes()); got != "[2 2 1]" {
		t.Errorf("batch sizes %s, want [2 2 1]", got)
	}
	if sent := testutil.ToFloat64(f.metrics.sent.WithLabelValues(srv.URL)); sent != 5 {
		t.Errorf("sent_total %v, want 5", sent)
	}
}

func TestQueueOverflowDropsOldest(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	cfg := alertingConfig(time.Hour, srv.URL)
	cfg.Alerting.QueueCapacity = 3
	c, f := standalone(t, cfg)
	raiseMany(t, c, 5)
	f.Resend()
	if got := f.QueueLengths()[srv.URL]; got != 3 {
		t.Fatalf("queue holds %d, want its capacity 3", got)
	}
	if dropped := testutil.ToFloat64(f.metrics.dropped.WithLabelValues(srv.URL)); dropped != 2 {
		t.Fatalf("dropped_total %v, want 2", dropped)
	}
	runForwarder(t, f)
	wait.For(t, "the kept alerts sent", 5*time.Second, func() bool { return len(rec.sizes()) == 1 })
	var sources []string
	for _, a := range rec.batches[0] {
		sources = append(sources, a.Labels["source"])
	}
	if got := fmt.Sprint(sources); got != "[sc-2 sc-3 sc-4]" {
		t.Errorf("kept %s, want the newest three [sc-2 sc-3 sc-4]", got)
	}
}

func TestTimeoutAndErrorsAreCounted(t *testing.T) {
	slow := &recorder{block: make(chan struct{})}
	slowSrv := httptest.NewServer(slow)
	defer slowSrv.Close()
	defer close(slow.block)
	failing := &recorder{status: http.StatusBadRequest}
	failSrv := httptest.NewServer(failing)
	defer failSrv.Close()
	cfg := alertingConfig(time.Hour, slowSrv.URL, failSrv.URL)
	cfg.Alerting.Alertmanagers[0].Timeout = model.Duration(200 * time.Millisecond)
	c, f := standalone(t, cfg)
	raiseMany(t, c, 3)
	f.Resend()
	start := time.Now()
	runForwarder(t, f)
	wait.For(t, "timeout counted", 5*time.Second, func() bool {
		return testutil.ToFloat64(f.metrics.errors.WithLabelValues(slowSrv.URL)) == 3
	})
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the 200ms request timeout took %v", took)
	}
	wait.For(t, "400 counted", 5*time.Second, func() bool {
		return testutil.ToFloat64(f.metrics.errors.WithLabelValues(failSrv.URL)) == 3
	})
	if sent := testutil.ToFloat64(f.metrics.sent.WithLabelValues(failSrv.URL)); sent != 3 {
		t.Errorf("sent_total %v, want 3 attempted", sent)
	}
}

func TestShutdownFlushesQueues(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	cfg := alertingConfig(time.Hour, srv.URL)
	cfg.Alerting.MaxBatchSize = 1
	c, f := standalone(t, cfg)
	raiseMany(t, c, 4)
	f.Resend()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // stopped before it starts: only the flush sends
	start := time.Now()
	if err := f.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(rec.sizes()); got != 4 {
		t.Errorf("flushed %d of 4 batches at shutdown", got)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("shutdown took %v, want within the 2s flush timeout", took)
	}
}

func TestCredentialsFromHTTPConfig(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := alertingConfig(time.Hour, srv.URL, srv.URL+"/basic")
	cfg.Alerting.Alertmanagers[0].HTTPClientConfig.Authorization = &commoncfg.Authorization{Type: "Bearer", CredentialsFile: tokenFile}
	cfg.Alerting.Alertmanagers[1].HTTPClientConfig.BasicAuth = &commoncfg.BasicAuth{Username: "am", Password: "pw"}
	c, f := standalone(t, cfg)
	raiseMany(t, c, 1)
	f.Resend()
	runForwarder(t, f)
	wait.For(t, "both requests", 5*time.Second, func() bool { return len(rec.sizes()) == 2 })
	var auth []string
	for _, h := range rec.headers {
		auth = append(auth, h.Get("Authorization"))
	}
	slices.Sort(auth)
	if auth[0] != "Basic YW06cHc=" || auth[1] != "Bearer s3cret-token" {
		t.Errorf("Authorization headers %q", auth)
	}
	// Nothing secret in the metrics.
	reg := prometheus.NewRegistry()
	reg.MustRegister(f.Collectors()...)
	families, _ := reg.Gather()
	for _, mf := range families {
		if strings.Contains(mf.String(), "s3cret") || strings.Contains(mf.String(), "pw") && strings.Contains(mf.String(), "am:") {
			t.Errorf("metric %s leaks a credential", mf.GetName())
		}
	}
}

func TestApplyConfigChanges(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	c, f := standalone(t, alertingConfig(time.Hour, srv.URL))
	raiseMany(t, c, 2)
	f.Resend()
	// Duplicate Alertmanagers are refused by config (its "is listed twice"
	// test), before any component sees them.
	// An unchanged Alertmanager keeps its queue; a new one starts with the
	// current state; a removed one is forgotten, metrics included.
	if err := f.ApplyConfig(alertingConfig(time.Hour, srv.URL, srv.URL+"/second")); err != nil {
		t.Fatal(err)
	}
	if got := f.QueueLengths(); got[srv.URL] != 2 || got[srv.URL+"/second"] != 2 {
		t.Errorf("queues %v, want 2 each", got)
	}
	if err := f.ApplyConfig(alertingConfig(time.Hour, srv.URL+"/second")); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.QueueLengths()[srv.URL]; ok {
		t.Error("removed Alertmanager still has a queue")
	}
	if n := testutil.CollectAndCount(f.metrics.queueCapacity); n != 1 {
		t.Errorf("%d queue capacity series, want 1 after the removal", n)
	}
	if v := testutil.ToFloat64(f.metrics.alertmanagers); v != 1 {
		t.Errorf("alertmanagers gauge %v, want 1", v)
	}
	// A changed Alertmanager is replaced under the same URL: its
	// replacement's series stay.
	changed := alertingConfig(time.Hour, srv.URL+"/second")
	changed.Alerting.Alertmanagers[0].Timeout = model.Duration(2 * time.Second)
	if err := f.ApplyConfig(changed); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(f.metrics.queueCapacity); n != 1 {
		t.Errorf("%d queue capacity series, want 1 after the replacement", n)
	}
}

// TestListReconcilesDroppedTransitions: a clear whose bus event never
// reached the forwarder is still forwarded at the next resend.
func TestListReconcilesDroppedTransitions(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	c, f := standalone(t, alertingConfig(time.Hour, srv.URL))
	if err := c.Raise(alarm.BackendConnectionRefuse); err != nil {
		t.Fatal(err)
	}
	f.Resend()
	c.ClearAll() // no event reaches f
	f.Resend()
	runForwarder(t, f)
	wait.For(t, "both resends", 5*time.Second, func() bool { return len(rec.sizes()) >= 1 && total(rec.sizes()) == 2 })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var last models.PostableAlert
	for _, b := range rec.batches {
		last = b[len(b)-1]
	}
	if ends := time.Time(last.EndsAt); ends.After(time.Now()) {
		t.Errorf("the alarm removed from the list is still firing (endsAt %v)", ends)
	}
}

func total(xs []int) (n int) {
	for _, x := range xs {
		n += x
	}
	return n
}

func TestCheckRefusesUnreadableCredentials(t *testing.T) {
	cfg := alertingConfig(time.Minute, "http://127.0.0.1:9093")
	cfg.Alerting.Alertmanagers[0].HTTPClientConfig.Authorization = &commoncfg.Authorization{Type: "Bearer", CredentialsFile: "/nonexistent/token"}
	_, f := standalone(t, alertingConfig(time.Minute))
	err := f.Check(cfg)
	if err == nil || !strings.Contains(err.Error(), "alerting.alertmanagers[0].http_config.authorization.credentials_file") {
		t.Fatalf("Check: %v; want an error naming the key", err)
	}
}

// TestRunBeforeApplyConfig: a forwarder runs before its first configuration
// without resending (it has no interval yet), and resends at the configured
// interval once it has one.
func TestRunBeforeApplyConfig(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	c, err := alarm.NewCenter(notify.New(nil), nil, alarm.WithQueue(10000, 0))
	if err != nil {
		t.Fatal(err)
	}
	f := New(Options{Alarms: c, FlushTimeout: 2 * time.Second})
	stop := runForwarder(t, f)
	defer stop()
	raiseMany(t, c, 1)
	if err := f.ApplyConfig(alertingConfig(50*time.Millisecond, srv.URL)); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "resends at the configured interval", 5*time.Second, func() bool { return len(rec.sizes()) >= 3 })
}

// TestReloadWhileRunning: an Alertmanager that a reload adds while the
// forwarder runs gets its send loop at once and the current state, and a
// removed one is stopped before ApplyConfig returns.
func TestReloadWhileRunning(t *testing.T) {
	first, second := &recorder{}, &recorder{}
	srv1, srv2 := httptest.NewServer(first), httptest.NewServer(second)
	defer srv1.Close()
	defer srv2.Close()
	sent := func(r *recorder) (n int) {
		for _, s := range r.sizes() {
			n += s
		}
		return n
	}
	c, f := standalone(t, alertingConfig(time.Hour, srv1.URL))
	runForwarder(t, f)
	raiseMany(t, c, 2)
	f.Resend()
	wait.For(t, "the first Alertmanager receiving the alarms", 5*time.Second, func() bool { return sent(first) == 2 })

	if err := f.ApplyConfig(alertingConfig(time.Hour, srv1.URL, srv2.URL)); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "the added Alertmanager receiving the current state", 5*time.Second, func() bool { return sent(second) == 2 })

	f.mu.Lock()
	removed, _ := f.ams.Get(srv1.URL)
	f.mu.Unlock()
	if err := f.ApplyConfig(alertingConfig(time.Hour, srv2.URL)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-removed.done:
	default:
		t.Error("the removed Alertmanager's send loop is still running")
	}
	before := sent(first)
	f.Resend()
	wait.For(t, "the remaining Alertmanager receiving the resend", 5*time.Second, func() bool { return sent(second) == 4 })
	if got := sent(first); got != before {
		t.Errorf("the removed Alertmanager received %d more alerts", got-before)
	}
}
