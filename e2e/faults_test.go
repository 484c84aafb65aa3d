package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/models"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/servicecomb/servicecomb_exporter/internal/testutil/amtest"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/etcdproc"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/registrytest"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/wait"
)

// The fault matrix: the exporter binary against Debian's etcd (which can be
// killed, frozen and wiped) and the real Alertmanager. Every case states the
// bound it holds the exporter to; the bounds follow from the defaults:
//
//   - probe: every 1 s, timing out after 2 s, so a lost etcd shows within
//     probeBound;
//   - retry: backoff from 250 ms doubling to 2 s, and gRPC's reconnect
//     delay of at most 5 s, so an etcd that is back is listed again within
//     recoverBound;
//   - alerts: resend_interval (2 s here); an active alert ends 4 intervals
//     after its last send unless re-sent.
//
// slack absorbs process start-up and polling on a loaded two-core machine.
// The cases run in parallel (make test runs -parallel 4), the 30 s SIGSTOP
// first: it sets the wall time.
const (
	probeBound     = 3 * time.Second
	recoverBound   = 10 * time.Second
	resendInterval = 2 * time.Second
	slack          = 10 * time.Second
)

// rig is one fault case's etcd, registry and exporter.
type rig struct {
	t        *testing.T
	bin      string
	etcd     *etcdproc.Etcd
	client   *clientv3.Client
	world    *registrytest.World
	am       *amtest.Alertmanager // nil unless asked for
	exporter *exporterProc
}

func newRig(t *testing.T, withAlertmanager bool) *rig {
	t.Helper()
	bin, _ := binaries(t)
	r := &rig{t: t, bin: bin, etcd: etcdproc.Start(t, etcdproc.Options{})}
	r.connect()
	for i := 0; i < 10; i++ {
		r.world.AddService()
	}
	for i := 0; i < 40; i++ {
		r.world.AddInstance()
	}
	if withAlertmanager {
		r.am = amtest.Start(t)
	}
	r.exporter = r.startExporter()
	r.exact("first sync", slack)
	return r
}

// connect makes a client for the current etcd, and a world: a new one when
// etcd starts empty, the old one when it restarted with its data (a new
// world would reuse the old keys and change no count).
func (r *rig) connect() {
	r.client = r.etcd.Client()
	c := r.client
	r.t.Cleanup(func() { _ = c.Close() })
	if r.world == nil {
		r.world = registrytest.NewWorld(r.t, r.client, uint64(time.Now().UnixNano()))
		return
	}
	r.world.UseClient(r.client)
}

// wiped starts a new world on the emptied etcd.
func (r *rig) wiped() {
	r.world = nil
	r.connect()
}

func (r *rig) config() string {
	cfg := etcdSourceConfig(r.etcd.Endpoint) + "      dial_timeout: 1s\n      request_timeout: 2s\n"
	cfg += fmt.Sprintf("alerting:\n  resend_interval: %s\n", resendInterval)
	if r.am != nil {
		cfg += fmt.Sprintf("  alertmanagers:\n    - url: %s\n      timeout: 1s\n", r.am.URL)
	}
	return cfg
}

func (r *rig) startExporter() *exporterProc { return startExporterBinary(r.t, r.bin, r.config()) }

// exact waits until the exporter's service and instance counts equal
// etcd's, counted independently, within bound.
func (r *rig) exact(what string, bound time.Duration) {
	r.t.Helper()
	r.exactOn(r.exporter, what, bound)
}

func (r *rig) exactOn(e *exporterProc, what string, bound time.Duration) {
	r.t.Helper()
	want, _ := registrytest.CountFromEtcd(r.t, r.client)
	var services, instances float64
	for _, n := range want.Services {
		services += float64(n)
	}
	for _, n := range want.Instances {
		instances += float64(n)
	}
	within(r.t, what+": counts equal etcd's", bound, func() bool {
		return e.sum("servicecomb_registry_services") == services && e.sum("servicecomb_registry_instances") == instances &&
			e.metric(`servicecomb_registry_source_up{source="main"}`) == 1
	})
}

func (r *rig) sourceUp() float64 {
	return r.exporter.metric(`servicecomb_registry_source_up{source="main"}`)
}

// within waits for cond, failing when it does not hold within bound; it
// logs how long it took, for the record.
func within(t *testing.T, what string, bound time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	wait.For(t, what, bound, cond, e2ePoll)
	took := time.Since(start)
	t.Logf("%s after %v (bound %v)", what, took.Round(100*time.Millisecond), bound)
	return took
}

const alertName = "ServiceCombBackendConnectionRefuse"

// amAlert returns the Alertmanager's active BackendConnectionRefuse alerts.
func amAlerts(t *testing.T, am *amtest.Alertmanager) models.GettableAlerts {
	t.Helper()
	alerts, err := am.Alerts()
	if err != nil {
		return nil
	}
	var out models.GettableAlerts
	for _, a := range alerts {
		if a.Labels["alertname"] == alertName {
			out = append(out, a)
		}
	}
	return out
}

// TestFaultEtcdFrozen: etcd stopped with SIGSTOP for 30 s, its port open
// and silent. Bound: source_up 0 within probeBound (the probe times out, no
// hang on the open socket); counts exact within recoverBound of SIGCONT.
func TestFaultEtcdFrozen(t *testing.T) {
	t.Parallel()
	r := newRig(t, false)
	r.etcd.Freeze()
	frozen := time.Now()
	within(t, "source down while etcd is frozen", probeBound+slack, func() bool { return r.sourceUp() == 0 })
	if _, body := httpGet(r.exporter.URL + "/metrics"); body == "" {
		t.Error("/metrics does not answer while etcd is frozen")
	}
	time.Sleep(30*time.Second - time.Since(frozen)) // the fault itself: etcd stays stopped 30 s
	r.etcd.Thaw()
	r.world.RandomOp()
	r.exact("back after SIGCONT", recoverBound+slack)
}

// TestFaultEtcdKilled: etcd SIGKILLed and restarted with its data.
// Bound: source_up 0 and BackendConnectionRefuse within probeBound; counts
// exact again within recoverBound of etcd's return, changes made meanwhile
// included.
func TestFaultEtcdKilled(t *testing.T) {
	t.Parallel()
	r := newRig(t, false)
	r.etcd.Kill()
	within(t, "source down after SIGKILL", probeBound+slack, func() bool {
		return r.sourceUp() == 0 && r.exporter.sum("servicecomb_alarm_active", `id="BackendConnectionRefuse"`) == 1
	})
	r.etcd.Restart(false)
	r.connect()
	for i := 0; i < 10; i++ {
		r.world.RandomOp()
	}
	r.exact("back after the restart", recoverBound+slack)
	within(t, "alarm cleared", slack, func() bool {
		return r.exporter.sum("servicecomb_alarm_active", `id="BackendConnectionRefuse"`) == 0
	})
}

// TestFaultEtcdWiped: etcd killed and restarted on the same port with an
// empty data directory (a replaced volume). Bound: the new, smaller registry
// is listed within recoverBound of etcd's return: the revision went back,
// which a probe notices, instead of the old counts staying for ever.
func TestFaultEtcdWiped(t *testing.T) {
	t.Parallel()
	r := newRig(t, false)
	r.etcd.Restart(true)
	r.wiped()
	for i := 0; i < 3; i++ {
		r.world.AddService()
	}
	r.world.AddInstance()
	r.exact("the wiped etcd listed", recoverBound+slack)
	for i := 0; i < 10; i++ {
		r.world.RandomOp()
	}
	r.exact("changes after the wipe followed", slack)
}

// TestFaultCompactionWhileDisconnected: while the exporter is frozen
// (SIGSTOP), etcd restarts (breaking its connection), the registry changes
// and etcd compacts past the exporter's revision. Bound: once thawed, the
// exporter reconnects, its watch finds its revision compacted, and the
// registry is listed again, exact within recoverBound.
func TestFaultCompactionWhileDisconnected(t *testing.T) {
	t.Parallel()
	r := newRig(t, false)
	syncs := r.exporter.metric(`servicecomb_registry_syncs_total{result="success",source="main"}`)
	pid := r.exporter.cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	r.etcd.Restart(false)
	r.connect()
	r.world.AddService() // at least one count changes
	for i := 0; i < 30; i++ {
		r.world.RandomOp()
	}
	resp, err := r.client.Get(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.client.Compact(context.Background(), resp.Header.Revision); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	within(t, "a new list after the compaction", recoverBound+slack, func() bool {
		return r.exporter.metric(`servicecomb_registry_syncs_total{result="success",source="main"}`) > syncs
	})
	r.exact("listed again after the compaction", slack)
}

// TestFaultAlertmanagerDownDuringClear: BackendConnectionRefuse fires,
// Alertmanager stops answering (SIGSTOP), the condition clears, then
// Alertmanager returns. Bound: the alert is resolved in Alertmanager within
// one resend interval (+ the 1 s send timeout) of its return, as long as it
// returns within resolved_retention (15 m); later, it ends at its endsAt.
func TestFaultAlertmanagerDownDuringClear(t *testing.T) {
	t.Parallel()
	r := newRig(t, true)
	r.etcd.Kill()
	within(t, "alert firing in Alertmanager", probeBound+resendInterval+slack, func() bool { return len(amAlerts(t, r.am)) == 1 })
	r.am.Freeze()
	r.etcd.Restart(false)
	r.connect()
	within(t, "alarm cleared in the exporter", recoverBound+slack, func() bool {
		return r.exporter.sum("servicecomb_alarm_active", `id="BackendConnectionRefuse"`) == 0
	})
	within(t, "a failed send", slack, func() bool {
		return r.exporter.sum("servicecomb_alertmanager_notifications_errors_total") > 0
	})
	r.am.Thaw()
	within(t, "alert resolved after Alertmanager returned", resendInterval+time.Second+slack, func() bool {
		return len(amAlerts(t, r.am)) == 0
	})
}

// TestFaultTwoReplicas: two exporters with the same configuration. Bound:
// Alertmanager shows one alert (the replicas send identical labels); it
// stays firing while any replica sees the condition (the other's resends
// keep it past 4 resend intervals); it resolves within a resend interval
// of the condition clearing.
func TestFaultTwoReplicas(t *testing.T) {
	t.Parallel()
	r := newRig(t, true)
	second := r.startExporter()
	r.exactOn(second, "second replica synced", slack)
	r.etcd.Kill()
	within(t, "alert firing", probeBound+resendInterval+slack, func() bool { return len(amAlerts(t, r.am)) == 1 })
	within(t, "both replicas sending", slack, func() bool {
		return r.exporter.sum("servicecomb_alertmanager_notifications_sent_total") > 0 &&
			second.sum("servicecomb_alertmanager_notifications_sent_total") > 0
	})
	if n := len(amAlerts(t, r.am)); n != 1 {
		t.Fatalf("%d alerts from two replicas, want 1", n)
	}
	_ = r.exporter.cmd.Process.Kill()
	time.Sleep(4*resendInterval + 2*time.Second) // past the killed replica's endsAt
	if n := len(amAlerts(t, r.am)); n != 1 {
		t.Fatalf("%d alerts after one replica died, want 1 (the other keeps it firing)", n)
	}
	r.etcd.Restart(false)
	r.connect()
	within(t, "alert resolved by the remaining replica", recoverBound+resendInterval+slack, func() bool { return len(amAlerts(t, r.am)) == 0 })
}

// TestFaultExporterRestartedWhileFiring: the exporter dies while its alert
// fires, and the condition is gone when it starts again. The new exporter
// knows nothing of the alert, so it never resolves it: Alertmanager keeps
// it until its endsAt, at most 4 × resend_interval after the last send.
// Bound: gone by endsAt, and endsAt ≤ kill + 4 × resend_interval. Then the
// runbook's way to resolve such an alert at once (post it again, ended)
// is checked.
func TestFaultExporterRestartedWhileFiring(t *testing.T) {
	t.Parallel()
	r := newRig(t, true)
	r.etcd.Kill()
	within(t, "alert firing", probeBound+resendInterval+slack, func() bool { return len(amAlerts(t, r.am)) == 1 })
	_ = r.exporter.cmd.Process.Kill()
	killed := time.Now()
	r.etcd.Restart(false)
	r.connect()
	r.exporter = r.startExporter()
	r.exact("the restarted exporter synced", slack)

	alerts := amAlerts(t, r.am)
	if len(alerts) != 1 {
		t.Fatalf("%d alerts after the restart, want the old one still firing", len(alerts))
	}
	endsAt := time.Time(*alerts[0].EndsAt)
	if limit := killed.Add(4 * resendInterval); endsAt.After(limit.Add(time.Second)) {
		t.Errorf("endsAt %v is past kill + 4 × resend interval (%v)", endsAt, limit)
	}
	within(t, "the orphaned alert ended", time.Until(endsAt)+slack, func() bool { return len(amAlerts(t, r.am)) == 0 })
	if early := time.Until(endsAt); early > time.Second {
		t.Errorf("the alert ended %v before its endsAt", early)
	}

	// The runbook: post the firing alert again with endsAt now.
	r.etcd.Kill()
	within(t, "alert firing again", probeBound+resendInterval+slack, func() bool { return len(amAlerts(t, r.am)) == 1 })
	_ = r.exporter.cmd.Process.Kill()
	resolveByRunbook(t, r.am)
	within(t, "alert resolved by hand", 2*time.Second, func() bool { return len(amAlerts(t, r.am)) == 0 })
}

// resolveByRunbook runs the shell commands of docs/runbooks.md's "An alert
// outlived the exporter that sent it" against am; without jq or curl, it
// does the same in Go.
func resolveByRunbook(t *testing.T, am *amtest.Alertmanager) {
	t.Helper()
	doc, err := os.ReadFile("../docs/runbooks.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(doc), "## An alert outlived the exporter that sent it")
	_, script, _ := strings.Cut(section, "```sh\n")
	script, _, found := strings.Cut(script, "```")
	if !found || !strings.Contains(script, "AM=") {
		t.Fatal("docs/runbooks.md: no shell block in the section on outlived alerts")
	}
	_, errJQ := exec.LookPath("jq")
	_, errCurl := exec.LookPath("curl")
	if errJQ != nil || errCurl != nil {
		t.Log("no jq or curl: resolving in Go, as the runbook does")
		resolveNow(t, am.URL, amAlerts(t, am))
		return
	}
	script = regexp.MustCompile(`(?m)^AM=.*$`).ReplaceAllString(script, "AM="+am.URL)
	if out, err := exec.Command("bash", "-euxo", "pipefail", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("the runbook's commands failed: %v\n%s", err, out)
	}
}

// resolveNow is the runbook's procedure: POST /api/v2/alerts with the
// alerts' labels and endsAt set to now.
func resolveNow(t *testing.T, amURL string, alerts models.GettableAlerts) {
	t.Helper()
	now := strfmt.DateTime(time.Now())
	var post models.PostableAlerts
	for _, a := range alerts {
		post = append(post, &models.PostableAlert{Alert: models.Alert{Labels: a.Labels}, StartsAt: *a.StartsAt, EndsAt: now})
	}
	body, err := json.Marshal(post)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(amURL+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /api/v2/alerts: %s", resp.Status)
	}
}
