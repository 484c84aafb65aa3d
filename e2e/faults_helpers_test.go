package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/servicecomb/servicecomb_exporter/internal/testutil/loopback"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/wait"
)

// exporterProc is the exporter binary running against the given config,
// on a free loopback port.
type exporterProc struct {
	*process
	URL string
}

func startExporterBinary(t testing.TB, bin, config string, extraArgs ...string) *exporterProc {
	t.Helper()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := loopback.FreeAddress(t)
	args := append([]string{"--config.file=" + cfgFile, "--web.listen-address=" + addr, "--log.level=warn"}, extraArgs...)
	e := &exporterProc{process: start(t, bin, args...), URL: "http://" + addr}
	wait.For(t, "exporter serving", 30*time.Second, func() bool { s, _ := httpGet(e.URL + "/-/healthy"); return s == 200 }, e2ePoll)
	return e
}

// metric returns the value of the first sample of /metrics whose line
// starts with series (name and labels as exposed, such as
// `servicecomb_registry_source_up{source="main"}`), or -1.
func (e *exporterProc) metric(series string) float64 {
	_, body := httpGet(e.URL + "/metrics")
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

// sum adds the samples of name whose labels match every one of labels.
func (e *exporterProc) sum(name string, labels ...string) float64 {
	_, body := httpGet(e.URL + "/metrics")
	var total float64
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); ok && err == nil {
			total += v
		}
	}
	return total
}

var vmHWM = regexp.MustCompile(`(?m)^VmHWM:\s+(\d+) kB$`)

// peakRSS is the process's peak resident set size in bytes (Linux VmHWM).
func peakRSS(t testing.TB, pid int) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := vmHWM.FindSubmatch(status)
	if m == nil {
		t.Fatalf("no VmHWM in /proc/%d/status", pid)
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}

func etcdSourceConfig(endpoint string) string {
	return fmt.Sprintf("sources:\n  - name: main\n    etcd:\n      endpoints: [%s]\n", endpoint)
}
