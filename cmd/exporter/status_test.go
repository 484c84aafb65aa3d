package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// TestStatusPageBehindWebConfig: /status is behind the web config's basic
// auth like every other path, and linked from the landing page.
func TestStatusPageBehindWebConfig(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webCfg := filepath.Join(t.TempDir(), "web.yml")
	writeFile(t, webCfg, fmt.Sprintf("basic_auth_users:\n  operator: %s\n", hash))
	e := startExporterAuth(t, webCfg)
	for _, path := range []string{"/status", "/status?domain=x"} {
		if status, body := e.get(path, nil); status != http.StatusUnauthorized || strings.Contains(body, "Registry sources") {
			t.Errorf("%s without credentials: %d, want 401 and no page", path, status)
		}
		wrong := http.Header{"Authorization": {"Basic b3BlcmF0b3I6d3Jvbmc="}} // operator:wrong
		if status, _ := e.get(path, wrong); status != http.StatusUnauthorized {
			t.Errorf("%s with a wrong password: %d, want 401", path, status)
		}
	}
	auth := http.Header{"Authorization": {"Basic b3BlcmF0b3I6czNjcmV0"}} // operator:s3cret
	if status, body := e.get("/status", auth); status != 200 || !strings.Contains(body, "Registry sources") {
		t.Errorf("with credentials: %d %.200s", status, body)
	}
	if _, body := e.get("/", auth); !strings.Contains(body, `href="/status"`) {
		t.Errorf("the landing page does not link to /status:\n%s", body)
	}
}

// TestStatusPageReloadStatusAgreesWithMetrics: a failed reload shows on the
// page with its error, and the page and the metrics tell the same counts.
func TestStatusPageReloadStatusAgreesWithMetrics(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "config.yml")
	writeFile(t, cfgFile, "sources: []\n")
	e := startExporter(t, "--config.file", cfgFile, "--web.enable-lifecycle")
	if _, body := e.get("/status", nil); !strings.Contains(body, `<span class="badge ok">SUCCEEDED</span>`) ||
		!strings.Contains(body, "1 succeeded, 0 failed") || !strings.Contains(body, cfgFile) {
		t.Errorf("after the first load the page shows:\n%s", body)
	}
	writeFile(t, cfgFile, "registry:\n  exclude_global_services: maybe\n")
	if status, _ := e.request(http.MethodPost, "/-/reload", nil); status != http.StatusInternalServerError {
		t.Fatalf("bad reload answered %d", status)
	}
	_, body := e.get("/status", nil)
	for _, want := range []string{`<span class="badge bad">FAILED</span>`, "config.yml:2", "exclude_global_services", "1 succeeded, 1 failed"} {
		if !strings.Contains(body, want) {
			t.Errorf("after a failed reload the page lacks %q", want)
		}
	}
	_, metrics := e.get("/metrics", nil)
	for _, want := range []string{
		`servicecomb_exporter_config_reloads_total{result="success"} 1`,
		`servicecomb_exporter_config_reloads_total{result="failure"} 1`,
		"servicecomb_exporter_config_last_reload_successful 0",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestStatusPageKeepsSecretsOut: with credentials in every place the
// configuration allows, and every backend failing (so that last errors are
// shown), the page holds none of them.
func TestStatusPageKeepsSecretsOut(t *testing.T) {
	const secret = "hunter2-very-secret"
	cfgFile := filepath.Join(t.TempDir(), "config.yml")
	writeFile(t, cfgFile, fmt.Sprintf(`sources:
  - name: main
    etcd:
      endpoints: [http://127.0.0.1:1]
      username: root
      password: %[1]s
alerting:
  resend_interval: 1s
  alertmanagers:
    - url: http://operator:%[1]s@127.0.0.1:1/
      http_config:
        bearer_token: %[1]s
`, secret))
	e := startExporter(t, "--config.file", cfgFile)
	var body string
	e.waitFor("the source's and the Alertmanager's errors on the page", func() bool {
		_, body = e.get("/status", nil)
		return strings.Contains(body, `<span class="badge bad">DOWN</span>`) && strings.Count(body, `<td class="error">`) >= 2
	})
	if strings.Contains(body, secret) {
		t.Errorf("the status page holds the secret:\n%s", body)
	}
	if !strings.Contains(body, "http://operator:xxxxx@127.0.0.1:1/") {
		t.Errorf("the Alertmanager is not listed with its password redacted:\n%s", body)
	}
}
