// Package e2e tests the exporter with the rest of the Prometheus stack: the
// simulator on an embedded etcd, the exporter reading it and forwarding to a
// real Alertmanager, and a real Prometheus scraping the exporter with the
// project's rules loaded. It checks that every metric the rules and
// dashboards use is one the exporter really exposes, that every dashboard
// query returns data, and that the source-down alert fires and resolves.
package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servicecomb/servicecomb_exporter/internal/testutil/amtest"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/binary"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/loopback"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/promtest"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/wait"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds the exporter and the simulator once per test run.
func binaries(t testing.TB) (exporter, simulator string) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "servicecomb-e2e")
		if buildErr != nil {
			return
		}
		for _, target := range []string{"exporter", "simulator"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, target), "../cmd/"+target).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("go build ../cmd/%s: %v\n%s", target, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "exporter"), filepath.Join(binDir, "simulator")
}

// process is a started program, killed when the test ends.
type process struct {
	cmd    *exec.Cmd
	exited <-chan struct{}
}

func start(t testing.TB, bin string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	p := &process{cmd: cmd, exited: binary.Start(t, cmd)}
	t.Cleanup(p.stop)
	return p
}

// stop interrupts the program and waits for it (killing it after 20s).
func (p *process) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// e2ePoll spaces the checks of the real processes this suite waits on.
var e2ePoll = wait.Every(100 * time.Millisecond)

func httpGet(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// outageService is the service whose instances the simulator takes away
// for outageDuration every outageEvery, from outageAfter after it starts.
// Short and frequent, so that the subtest that waits for one waits little
// whenever it runs.
var outageService = map[string]string{"domain": "default", "project": "default", "service": "order-svc"}

const (
	outageAfter    = 10 * time.Second
	outageDuration = 10 * time.Second
	outageEvery    = 25 * time.Second
)

func startSimulator(t *testing.T, bin, address string) *process {
	t.Helper()
	p := start(t, bin, "--embedded", "--embedded.listen-address", address, "--domains", "3", "--projects", "2",
		"--services", "4", "--instances", "3", "--churn.rate", "5", "--lease-ttl", "10s", "--log.level", "warn",
		"--service-outage.service", outageService["domain"]+"/"+outageService["project"]+"/"+outageService["service"],
		"--service-outage.after", outageAfter.String(), "--service-outage.duration", outageDuration.String(),
		"--service-outage.every", outageEvery.String())
	wait.For(t, "simulator's etcd", 30*time.Second, func() bool {
		c, err := net.Dial("tcp", address)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, e2ePoll)
	return p
}

// rulesWithShortDurations copies rules/*.rules.yml with every `for:` and
// group evaluation `interval:` made short enough for a test, the way
// docs/runbooks.md tells operators to change them, and returns the copies'
// paths.
func rulesWithShortDurations(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../rules/*.rules.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule files in ../rules: %v", err)
	}
	forRE := regexp.MustCompile(`(?m)^(\s+for:\s*)\S+`)
	intervalRE := regexp.MustCompile(`(?m)^(\s+interval:\s*)\S+`)
	dir := t.TempDir()
	var out []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		data = forRE.ReplaceAll(data, []byte("${1}2s"))
		// The slow availability group would first run minutes after start.
		data = intervalRE.ReplaceAll(data, []byte("${1}1s"))
		dst := filepath.Join(dir, filepath.Base(f))
		if err := os.WriteFile(dst, data, 0o600); err != nil {
			t.Fatal(err)
		}
		out = append(out, dst)
	}
	return out
}

// metricNames are the metric families the exporter exposes, from its own
// /metrics.
func metricNames(t *testing.T, exporterURL string) map[string]bool {
	t.Helper()
	status, body := httpGet(exporterURL + "/metrics")
	if status != 200 {
		t.Fatalf("/metrics: %d", status)
	}
	names := map[string]bool{}
	for _, line := range strings.Split(body, "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			fields := strings.Fields(name)
			names[fields[0]] = true
			if fields[1] == "histogram" || fields[1] == "summary" {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					names[fields[0]+suffix] = true
				}
			}
		}
	}
	return names
}

var metricToken = regexp.MustCompile(`\b((?:servicecomb|process|go|promhttp)_[a-zA-Z0-9_]+)\b`)

// usedMetrics returns the exporter metric names an expression uses.
func usedMetrics(expr string) []string {
	var out []string
	for _, m := range metricToken.FindAllStringSubmatch(expr, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestStack(t *testing.T) {
	exporterBin, simulatorBin := binaries(t)
	am := amtest.Start(t)
	etcdAddress := loopback.FreeAddress(t)
	sim := startSimulator(t, simulatorBin, etcdAddress)

	dir := t.TempDir()
	cfg := fmt.Sprintf(`sources:
  - name: simulator
    etcd:
      endpoints: [http://%s]
alerting:
  resend_interval: 2s
  alertmanagers:
    - url: %s
`, etcdAddress, am.URL)
	cfgFile := filepath.Join(dir, "exporter.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	exporterAddress := loopback.FreeAddress(t)
	start(t, exporterBin, "--config.file", cfgFile, "--web.listen-address", exporterAddress, "--log.level", "warn")
	exporterURL := "http://" + exporterAddress
	wait.For(t, "exporter ready", 60*time.Second, func() bool { s, _ := httpGet(exporterURL + "/-/ready"); return s == 200 }, e2ePoll)

	rules := rulesWithShortDurations(t)
	prom := promtest.Start(t, fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%s]
scrape_configs:
  - job_name: servicecomb
    static_configs:
      - targets: [%q]
`, strings.Join(rules, ", "), exporterAddress))
	wait.For(t, "first scrapes", 60*time.Second, func() bool {
		samples, err := prom.Query(`count_over_time(up{job="servicecomb"}[1m]) >= 5`)
		return err == nil && len(samples) > 0
	}, e2ePoll)

	// The outage comes first: it also makes the alarm and Alertmanager
	// delivery series exist (BackendConnectionRefuse raised, forwarded and
	// cleared), as they do in any exporter that has run for a while.
	stack := t // the registry started again must outlive the subtest
	t.Run("source down alert fires and resolves", func(t *testing.T) {
		const alert = sourceDownAlert
		firing := func() bool {
			alerts, err := prom.Alerts()
			if err != nil {
				return false
			}
			for _, a := range alerts {
				if a.Labels["alertname"] == alert && a.State == "firing" {
					return true
				}
			}
			return false
		}
		if firing() {
			t.Fatalf("%s fires while the registry is up", alert)
		}
		sim.stop()
		wait.For(t, backendAlert+" in Alertmanager while the registry backend is down", 90*time.Second,
			func() bool { return inAlertmanager(t, am, backendAlert) }, e2ePoll)
		wait.For(t, alert+" firing after the registry backend stopped", 90*time.Second, firing, e2ePoll)
		startSimulator(stack, simulatorBin, etcdAddress)
		wait.For(t, alert+" resolved after the registry backend returned", 120*time.Second, func() bool { return !firing() }, e2ePoll)
		wait.For(t, backendAlert+" resolved in Alertmanager after the registry backend returned", 60*time.Second, func() bool {
			return !inAlertmanager(t, am, backendAlert) && resolvedReceived(t, am) >= 1
		}, e2ePoll)
	})

	wait.For(t, "exporter ready again", 60*time.Second, func() bool { s, _ := httpGet(exporterURL + "/-/ready"); return s == 200 }, e2ePoll)
	names := metricNames(t, exporterURL)
	t.Run("every metric used by rules and dashboards is exposed", func(t *testing.T) {
		for _, e := range allExpressions(t) {
			for _, name := range usedMetrics(e.expr) {
				if !names[name] {
					t.Errorf("%s uses %s, which the exporter does not expose", e.where, name)
				}
			}
		}
	})

	t.Run("every dashboard query returns data", func(t *testing.T) {
		for _, e := range dashboardExpressions(t) {
			expr := substituteVariables(e.expr)
			var samples []promtest.Sample
			var err error
			// Rates need a few scrapes; give every query a little time
			// (an exempted one is expected empty: once is enough).
			deadline := time.Now().Add(20 * time.Second)
			if _, exempt := expectedEmpty(e.expr); exempt {
				deadline = time.Now()
			}
			for {
				samples, err = prom.Query(expr)
				if (err == nil && len(samples) > 0) || time.Now().After(deadline) {
					break
				}
				time.Sleep(500 * time.Millisecond)
			}
			if err != nil {
				t.Errorf("%s: %v", e.where, err)
				continue
			}
			if len(samples) == 0 {
				if reason, ok := expectedEmpty(e.expr); ok {
					t.Logf("%s: empty, as expected in a healthy registry: %s", e.where, reason)
					continue
				}
				t.Errorf("%s returned no data: %s", e.where, expr)
			}
		}
	})

	// The simulator's scripted service outages (startSimulator) take every
	// instance of outageService away and bring them back. With `for:`
	// shortened, the alert fires a few seconds into an outage; the rule's
	// 1h lookback covers this Prometheus's whole history, so it needs no
	// shortening: the service was UP before.
	t.Run("service outage fires ServiceCombServiceNoInstancesUp and resolves", func(t *testing.T) {
		const alert = "ServiceCombServiceNoInstancesUp"
		selector := fmt.Sprintf(`servicecomb_service_instances{job="servicecomb",domain=%q,project=%q,service=%q,status="UP"}`,
			outageService["domain"], outageService["project"], outageService["service"])
		upInstances := func() (float64, bool) {
			samples, err := prom.Query(selector)
			if err != nil || len(samples) != 1 {
				return 0, false
			}
			var n float64
			_, err = fmt.Sscan(fmt.Sprint(samples[0].Value[1]), &n)
			return n, err == nil
		}
		firing := func() bool { return alertFiring(prom, alert, outageService) }
		// From a known state: the service up and the alert quiet (an
		// outage may be under way when the subtest starts).
		wait.For(t, outageService["service"]+" UP and "+alert+" quiet", outageDuration+15*time.Second, func() bool {
			n, ok := upInstances()
			return ok && n > 0 && !firing()
		}, e2ePoll)
		wait.For(t, alert+" firing for "+outageService["service"]+" during its outage", outageEvery+15*time.Second, firing, e2ePoll)
		// The exporter keeps the service's UP series, at 0, while none is UP.
		if n, ok := upInstances(); !ok || n != 0 {
			t.Errorf("while %s fires, %s is %v (present %v), want 0", alert, selector, n, ok)
		}
		wait.For(t, alert+" resolved once "+outageService["service"]+" is back", outageDuration+15*time.Second, func() bool {
			n, ok := upInstances()
			return ok && n > 0 && !firing()
		}, e2ePoll)
	})

}

// alertFiring reports whether Prometheus has alert name firing with every
// label of labels.
func alertFiring(prom *promtest.Prometheus, name string, labels map[string]string) bool {
	alerts, err := prom.Alerts()
	if err != nil {
		return false
	}
	for _, a := range alerts {
		if a.Labels["alertname"] != name || a.State != "firing" {
			continue
		}
		match := true
		for k, v := range labels {
			match = match && a.Labels[k] == v
		}
		if match {
			return true
		}
	}
	return false
}

// expression is one PromQL expression of a rule or a dashboard.
type expression struct {
	where string
	expr  string
}

func allExpressions(t *testing.T) []expression {
	return append(ruleExpressions(t), dashboardExpressions(t)...)
}

func ruleExpressions(t *testing.T) []expression {
	t.Helper()
	var out []expression
	for f, rf := range loadRuleFiles(t) {
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				out = append(out, expression{where: fmt.Sprintf("%s %s%s", f, r.Alert, r.Record), expr: r.Expr})
			}
		}
	}
	return out
}

// dashboardExpressions returns every target's expr and every variable's
// query of every dashboard.
func dashboardExpressions(t *testing.T) []expression {
	t.Helper()
	files, _ := filepath.Glob("../dashboards/*.json")
	if len(files) == 0 {
		t.Fatal("no dashboards in ../dashboards")
	}
	var out []expression
	for _, f := range files {
		d := loadDashboard(t, f)
		for _, p := range d.allPanels() {
			for i, target := range p.Targets {
				out = append(out, expression{where: fmt.Sprintf("%s panel %d %q target %d", filepath.Base(f), p.ID, p.Title, i), expr: target.Expr})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].where < out[j].where })
	return out
}

type panel struct {
	ID          int             `json:"id"`
	Type        string          `json:"type"`
	Title       string          `json:"title"`
	Description string          `json:"description"`
	Datasource  json.RawMessage `json:"datasource"`
	Targets     []struct {
		Expr       string          `json:"expr"`
		Datasource json.RawMessage `json:"datasource"`
	} `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Panels []panel `json:"panels"`
}

type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

func (d dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

func loadDashboard(t *testing.T, file string) dashboard {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return d
}

// substituteVariables replaces Grafana's variables with values that select
// everything the test stack has.
func substituteVariables(expr string) string {
	return strings.NewReplacer(
		"$__rate_interval", "1m", "${__rate_interval}", "1m", "$__interval", "15s", "$__range", "5m",
		"$job", "servicecomb", "${job}", "servicecomb",
		"$instance", ".*", "${instance}", ".*",
		"$source", ".*", "${source}", ".*",
		"$domain", ".*", "${domain}", ".*",
		"$project", ".*", "${project}", ".*",
		"$app", ".*", "${app}", ".*",
		"$service", ".*", "${service}", ".*",
	).Replace(expr)
}
