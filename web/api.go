package web

import (
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-kit/log/level"
	"github.com/prometheus/common/version"
	"gopkg.in/yaml.v3"

	"github.com/servicecomb/servicecomb_exporter/alarm"
	"github.com/servicecomb/servicecomb_exporter/internal/buildinfo"
)

// apiVersion is the Service Center API the compatible endpoints follow.
const apiVersion = "4.0.0"

func versionString() string {
	return buildinfo.Version() + " (revision " + version.GetRevision() + ")"
}

func (a *api) healthy(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("Healthy.\n"))
}

func (a *api) ready(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if a.Ready != nil && !a.Ready() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("Not ready.\n"))
		return
	}
	_, _ = w.Write([]byte("Ready.\n"))
}

func (a *api) reload(w http.ResponseWriter, _ *http.Request) {
	if a.Reload == nil {
		http.Error(w, "reload is not available", http.StatusNotFound)
		return
	}
	if !a.EnableLifecycle {
		// Anyone who can reach the port could otherwise make the exporter
		// re-read a half-written file; SIGHUP always works.
		http.Error(w, "Lifecycle API is not enabled (start with --web.enable-lifecycle).", http.StatusForbidden)
		return
	}
	if err := a.Reload(); err != nil {
		// As Prometheus does: the running configuration stays in force.
		http.Error(w, "failed to reload config: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("Config reloaded.\n"))
}

// healthInstance is Service Center's instance record, the shape of its
// health answer (which lists the Service Center instances); the exporter
// lists itself. Timestamps are Unix seconds as strings, as Service Center
// writes them.
type healthInstance struct {
	InstanceID   string   `json:"instanceId"`
	ServiceID    string   `json:"serviceId"`
	Endpoints    []string `json:"endpoints"`
	HostName     string   `json:"hostName"`
	Status       string   `json:"status"`
	Timestamp    string   `json:"timestamp"`
	ModTimestamp string   `json:"modTimestamp"`
	Version      string   `json:"version"`
}

func (a *api) health(w http.ResponseWriter, _ *http.Request) {
	if err := a.Health.Healthy(); err != nil {
		writeError(w, codeUnhealthy, "Server is Unhealthy", err.Error())
		return
	}
	host, _ := os.Hostname()
	started := strconv.FormatInt(a.StartTime.Unix(), 10)
	endpoints := a.Endpoints
	if endpoints == nil {
		endpoints = []string{}
	}
	writeJSON(w, http.StatusOK, map[string][]healthInstance{
		"instances": {{InstanceID: a.instanceID, ServiceID: a.serviceID, Endpoints: endpoints, HostName: host,
			Status: "UP", Timestamp: started, ModTimestamp: started, Version: buildinfo.Version()}},
	})
}

// versionInfo is Service Center's version answer.
type versionInfo struct {
	Version    string `json:"version"`
	BuildTag   string `json:"buildTag"`
	GoVersion  string `json:"goVersion"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	APIVersion string `json:"apiVersion"`
}

func currentVersion() versionInfo {
	return versionInfo{
		Version:    buildinfo.Version(),
		BuildTag:   version.GetRevision(),
		GoVersion:  runtime.Version(),
		OS:         runtime.GOOS,
		Arch:       runtime.GOARCH,
		APIVersion: apiVersion,
	}
}

func (a *api) version(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, currentVersion())
}

// alarmList is Service Center's alarms answer: the key is left out when
// there are no alarms.
type alarmList struct {
	Alarms []alarm.Alarm `json:"alarms,omitempty"`
}

func (a *api) listAlarms(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, alarmList{Alarms: a.Alarms.List()})
}

func (a *api) clearAlarms(w http.ResponseWriter, _ *http.Request) {
	a.Alarms.ClearAll()
	level.Info(a.Logger).Log("msg", "alarm list cleared through the API")
	w.WriteHeader(http.StatusOK)
}

// dumpOptions are the parts of the dump API, in answer order; cache, the
// registry in Service Center's shape, is streamed last (see cachedump.go).
var dumpOptions = []string{"info", "config", "env", "exporter", "cache"}

type dumpInfo struct {
	versionInfo
	Revision  string    `json:"revision"`
	Branch    string    `json:"branch"`
	BuildUser string    `json:"buildUser"`
	BuildDate string    `json:"buildDate"`
	StartTime time.Time `json:"startTime"`
	Uptime    string    `json:"uptime"`
}

// dumpEnv holds runtime facts only: never environment variable values,
// which may carry secrets (Service Center dropped its env dump for that).
type dumpEnv struct {
	Hostname   string `json:"hostname"`
	PID        int    `json:"pid"`
	GoVersion  string `json:"goVersion"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	NumCPU     int    `json:"numCPU"`
	Goroutines int    `json:"goroutines"`
}

// dumpExporter is the exporter's own state: its sources with their counts,
// and the alarms.
type dumpExporter struct {
	Registry any           `json:"registry"`
	Alarms   []alarm.Alarm `json:"alarms"`
}

type dumpAnswer struct {
	Info     *dumpInfo     `json:"info,omitempty"`
	Config   any           `json:"config,omitempty"`
	Env      *dumpEnv      `json:"env,omitempty"`
	Exporter *dumpExporter `json:"exporter,omitempty"`
}

func parseDumpOptions(raw string) (map[string]bool, string) {
	want := map[string]bool{}
	if strings.TrimSpace(raw) == "" {
		raw = "cache"
	}
	for _, opt := range strings.Split(raw, ",") {
		opt = strings.TrimSpace(opt)
		switch {
		case opt == "all":
			for _, o := range dumpOptions {
				want[o] = true
			}
		case slices.Contains(dumpOptions, opt):
			want[opt] = true
		default:
			return nil, opt
		}
	}
	return want, ""
}

func (a *api) dump(w http.ResponseWriter, r *http.Request) {
	want, bad := parseDumpOptions(r.URL.Query().Get("options"))
	if want == nil {
		writeError(w, codeInvalidParams, "Invalid parameter(s)",
			"unknown dump option "+quote(bad)+"; valid options: "+strings.Join(append(slices.Clone(dumpOptions), "all"), ", "))
		return
	}
	var out dumpAnswer
	if want["info"] {
		now := time.Now()
		out.Info = &dumpInfo{
			versionInfo: currentVersion(),
			Revision:    version.GetRevision(),
			Branch:      version.Branch,
			BuildUser:   version.BuildUser,
			BuildDate:   version.BuildDate,
			StartTime:   a.StartTime,
			Uptime:      now.Sub(a.StartTime).Round(time.Second).String(),
		}
	}
	if want["config"] {
		cfg, err := a.configAsObject()
		if err != nil {
			writeError(w, codeInternal, "Internal server error", "dumping config: "+err.Error())
			return
		}
		out.Config = cfg
	}
	if want["env"] {
		host, _ := os.Hostname()
		out.Env = &dumpEnv{
			Hostname:   host,
			PID:        os.Getpid(),
			GoVersion:  runtime.Version(),
			GOMAXPROCS: runtime.GOMAXPROCS(0),
			NumCPU:     runtime.NumCPU(),
			Goroutines: runtime.NumGoroutine(),
		}
	}
	if want["exporter"] {
		out.Exporter = &dumpExporter{Registry: map[string]any{}, Alarms: a.Alarms.List()}
		if a.Registry != nil {
			if reg := a.Registry(); reg != nil {
				out.Exporter.Registry = reg
			}
		}
	}
	if want["cache"] {
		a.dumpWithCache(w, r, out)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// configAsObject turns the redacted YAML into a value that marshals as a
// JSON object, so that the dump is one JSON document.
func (a *api) configAsObject() (any, error) {
	if a.Config == nil {
		return map[string]any{}, nil
	}
	data, err := a.Config()
	if err != nil {
		return nil, err
	}
	var v map[string]any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	if v == nil {
		v = map[string]any{}
	}
	return v, nil
}

func quote(s string) string { return "\"" + s + "\"" }

func sortedStrings(s []string) []string {
	slices.Sort(s)
	return s
}
