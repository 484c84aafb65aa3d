// Package amtest runs the real Alertmanager binary on a loopback port for
// tests, with a throw-away configuration and storage directory.
package amtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/api/v2/models"

	"github.com/servicecomb/servicecomb_exporter/internal/testutil/binary"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/loopback"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/wait"
)

// Binary returns the Alertmanager binary's path, skipping (or failing, with
// RequireEnv set) the test when there is none.
func Binary(t testing.TB) string {
	t.Helper()
	return binary.Find(t, "ALERTMANAGER_BIN", "prometheus-alertmanager", "prometheus-alertmanager", "alertmanager")
}

// Alertmanager is a running Alertmanager.
type Alertmanager struct {
	t       testing.TB
	bin     string
	dir     string
	address string
	cmd     *exec.Cmd
	exited  <-chan struct{}
	// URL is the base URL, http://127.0.0.1:port.
	URL string
}

const configYAML = `route:
  receiver: discard
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: discard
`

// Start starts an Alertmanager on a free loopback port; it is killed when
// the test ends.
func Start(t testing.TB) *Alertmanager {
	t.Helper()
	a := &Alertmanager{t: t, bin: Binary(t), dir: t.TempDir(), address: loopback.FreeAddress(t)}
	a.URL = "http://" + a.address
	if err := os.WriteFile(filepath.Join(a.dir, "alertmanager.yml"), []byte(configYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	a.start()
	t.Cleanup(a.Kill)
	return a
}

func (a *Alertmanager) start() {
	a.t.Helper()
	a.cmd = exec.Command(a.bin,
		"--config.file="+filepath.Join(a.dir, "alertmanager.yml"),
		"--storage.path="+filepath.Join(a.dir, "data"),
		"--web.listen-address="+a.address,
		"--cluster.listen-address=", // no gossip: a single, isolated instance
		"--log.level=warn",
	)
	a.exited = binary.Start(a.t, a.cmd)
	wait.ForNoError(a.t, "alertmanager ready at "+a.URL, 30*time.Second, ReadyOrExited(a.URL, "alertmanager", a.exited),
		wait.Every(20*time.Millisecond))
}

// ReadyOrExited is the start-up wait condition of a Prometheus-stack
// process (Alertmanager here, Prometheus in promtest): it holds once
// /-/ready answers 200, and the process having exited is an error.
func ReadyOrExited(url, name string, exited <-chan struct{}) func() (bool, error) {
	return func() (bool, error) {
		resp, err := http.Get(url + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return true, nil
			}
		}
		select {
		case <-exited:
			return false, fmt.Errorf("%s exited at start-up", name)
		default:
			return false, nil
		}
	}
}

// Kill stops the process at once; it is harmless when already stopped.
func (a *Alertmanager) Kill() {
	if a.cmd == nil || a.cmd.Process == nil {
		return
	}
	_ = a.cmd.Process.Signal(syscall.SIGCONT) // in case it is frozen
	_ = a.cmd.Process.Kill()
	<-a.exited
	a.cmd = nil
}

// Restart starts it again on the same address (with no alerts: Alertmanager
// keeps only silences and the notification log on disk).
func (a *Alertmanager) Restart() {
	a.t.Helper()
	a.Kill()
	a.start()
}

// Freeze stops the process without closing its port (SIGSTOP): requests to
// it hang until Thaw.
func (a *Alertmanager) Freeze() { _ = a.cmd.Process.Signal(syscall.SIGSTOP) }

// Thaw resumes a frozen Alertmanager.
func (a *Alertmanager) Thaw() { _ = a.cmd.Process.Signal(syscall.SIGCONT) }

// Alerts returns what GET /api/v2/alerts lists: alerts that have not ended.
func (a *Alertmanager) Alerts() (models.GettableAlerts, error) {
	resp, err := http.Get(a.URL + "/api/v2/alerts")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET /api/v2/alerts: %s", resp.Status)
	}
	var alerts models.GettableAlerts
	return alerts, json.NewDecoder(resp.Body).Decode(&alerts)
}

// Metric returns the sum of a metric's samples whose label text contains
// every one of labels (such as `status="resolved"`) from /metrics.
func (a *Alertmanager) Metric(name string, labels ...string) (float64, error) {
	resp, err := http.Get(a.URL + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		match := true
		for _, l := range labels {
			match = match && strings.Contains(line, l)
		}
		if !match {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, nil
}
