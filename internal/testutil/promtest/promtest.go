// Package promtest runs the real Prometheus binary on a loopback port for
// tests and queries its HTTP API.
package promtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/servicecomb/servicecomb_exporter/internal/testutil/amtest"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/binary"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/loopback"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/wait"
)

// Binary returns the path of a program of Debian's prometheus package
// (prometheus or promtool), skipping the test when it is missing (failing
// with binary.RequireEnv set).
func Binary(t testing.TB, name string) string {
	t.Helper()
	return binary.Find(t, "", "prometheus", name)
}

// Prometheus is a running Prometheus.
type Prometheus struct {
	URL string
}

// Start runs Prometheus with the given configuration file content (rule
// files referenced by it must exist) until the test ends.
func Start(t testing.TB, config string) *Prometheus {
	t.Helper()
	bin := Binary(t, "prometheus")
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	address := loopback.FreeAddress(t)
	cmd := exec.Command(bin, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+address, "--log.level=warn")
	exited := binary.Start(t, cmd)
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	p := &Prometheus{URL: "http://" + address}
	wait.ForNoError(t, "prometheus ready at "+p.URL, 30*time.Second, amtest.ReadyOrExited(p.URL, "prometheus", exited),
		wait.Every(50*time.Millisecond))
	return p
}

// Sample is one element of an instant vector.
type Sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// Query runs an instant query and returns the vector (a scalar yields one
// sample without labels).
func (p *Prometheus) Query(expr string) ([]Sample, error) {
	resp, err := http.Get(p.URL + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %q: %s", expr, body.Error)
	}
	if body.Data.ResultType == "scalar" {
		var v [2]any
		if err := json.Unmarshal(body.Data.Result, &v); err != nil {
			return nil, err
		}
		return []Sample{{Value: v}}, nil
	}
	var samples []Sample
	return samples, json.Unmarshal(body.Data.Result, &samples)
}

// Alert is an alert as Prometheus's /api/v1/alerts lists it.
type Alert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

// Alerts returns the pending and firing alerts.
func (p *Prometheus) Alerts() ([]Alert, error) {
	resp, err := http.Get(p.URL + "/api/v1/alerts")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Alerts []Alert `json:"alerts"`
		} `json:"data"`
	}
	return body.Data.Alerts, json.NewDecoder(resp.Body).Decode(&body)
}
