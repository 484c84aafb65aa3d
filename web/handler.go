// Package web serves the exporter's HTTP endpoints: the landing page,
// metrics, the lifecycle endpoints (/-/healthy, /-/ready, /-/reload) and an
// API compatible with Service Center's own health, version, alarms and dump
// endpoints, so that tools written for Service Center work against the
// exporter.
package web

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/servicecomb/servicecomb_exporter/alarm"
)

// AlarmCenter is the part of alarm.Center the API uses.
type AlarmCenter interface {
	List() []alarm.Alarm
	ClearAll()
	Raise(id alarm.ID, fields ...alarm.Field) error
}

// HealthChecker reports the exporter's health: alarm.HealthChecker.
type HealthChecker interface {
	Healthy() error
}

// Options wires the handler to the rest of the exporter. Alarms, Health and
// Metrics are required; the functions may be nil.
type Options struct {
	Logger  log.Logger
	Alarms  AlarmCenter
	Health  HealthChecker
	Metrics http.Handler
	// TelemetryPath is where Metrics is served; default /metrics.
	TelemetryPath string
	// Reload re-reads the configuration (POST /-/reload).
	Reload func() error
	// EnableLifecycle opens POST /-/reload (--web.enable-lifecycle); off,
	// it answers 403, as Prometheus does.
	EnableLifecycle bool
	// Ready reports whether the exporter is ready to serve (/-/ready).
	Ready func() bool
	// Config returns the running configuration as YAML with every secret
	// redacted, for the dump API.
	Config func() ([]byte, error)
	// Registry returns the exporter's own state of its sources (health and
	// counts), for the dump API's exporter option.
	Registry func() any
	// Cache returns the source whose registry the dump API's cache option
	// streams: the named one, the first configured for "". nil and no
	// error: no source is configured. The error names an unknown source.
	Cache func(source string) (CacheDumper, error)
	// Clusters returns each source's endpoints, credentials stripped, by
	// source name (GET /v4/{project}/admin/clusters).
	Clusters func() map[string][]string
	// StartTime is when the exporter started, for uptime in the dump API
	// and the health answer's timestamps.
	StartTime time.Time

	// The status page's sections; a nil one says it is not available.
	Sources       SourceSummaries
	Alertmanagers AlertmanagerStatuses
	ReloadStatus  func() ReloadStatus
	// Endpoints are the exporter's own addresses as Service Center writes
	// them (rest://host:port/), for the health answer.
	Endpoints []string
}

// NewHandler returns the exporter's HTTP handler.
func NewHandler(o Options) (http.Handler, error) {
	if o.Alarms == nil || o.Health == nil || o.Metrics == nil {
		return nil, fmt.Errorf("web: alarms, health and metrics are required")
	}
	if o.Logger == nil {
		o.Logger = log.NewNopLogger()
	}
	if o.TelemetryPath == "" {
		o.TelemetryPath = "/metrics"
	}
	if !strings.HasPrefix(o.TelemetryPath, "/") || o.TelemetryPath == "/" {
		return nil, fmt.Errorf("web: telemetry path %q must start with / and not be /", o.TelemetryPath)
	}
	if o.StartTime.IsZero() {
		o.StartTime = time.Now()
	}
	landing, err := landingPage(versionString(), []landingLink{
		{Address: o.TelemetryPath, Text: "Metrics"},
		{Address: "/status", Text: "Status", Description: "Health, alarms, sources and Alertmanagers at a glance, for a person"},
		{Address: "/health", Text: "Health", Description: "Service Center compatible health check"},
		{Address: "/version", Text: "Version", Description: "Service Center compatible version"},
		{Address: "/-/ready", Text: "Ready", Description: "200 once every registry source has synced"},
		{Address: "/v4/default/admin/alarms", Text: "Alarms", Description: "The alarm center"},
		{Address: "/v4/default/admin/dump?options=info,config,env,exporter", Text: "Dump", Description: "Version, configuration (redacted), runtime and registry sources' state"},
	})
	if err != nil {
		return nil, fmt.Errorf("web: landing page: %w", err)
	}

	a := &api{Options: o, instanceID: newInstanceID(), serviceID: serviceID()}
	mux := http.NewServeMux()
	mux.Handle(o.TelemetryPath, methods{http.MethodGet: o.Metrics.ServeHTTP})
	mux.Handle("/-/healthy", methods{http.MethodGet: a.healthy})
	mux.Handle("/-/ready", methods{http.MethodGet: a.ready})
	mux.Handle("/-/reload", methods{http.MethodPost: a.reload})
	mux.Handle("/health", methods{http.MethodGet: a.health})
	mux.Handle("/version", methods{http.MethodGet: a.version})
	mux.Handle("/status", methods{http.MethodGet: a.status})
	mux.Handle("/v4/{project}/registry/health", methods{http.MethodGet: a.health})
	mux.Handle("/v4/{project}/registry/version", methods{http.MethodGet: a.version})
	// Service Center (with RBAC off) serves the alarms to any domain and
	// project; only the dump is kept to the default ones.
	mux.Handle("/v4/{project}/admin/alarms", methods{http.MethodGet: a.listAlarms, http.MethodDelete: a.clearAlarms})
	mux.Handle("/v4/{project}/admin/dump", a.adminOnly(methods{http.MethodGet: a.dump}))
	mux.Handle("/v4/{project}/admin/clusters", a.adminOnly(methods{http.MethodGet: a.clusters}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			methods{http.MethodGet: landing}.ServeHTTP(w, r)
			return
		}
		writeError(w, codeNotFound, "Not found", r.URL.Path)
	})
	return a.recordServerErrors(mux), nil
}

// methods dispatches on the request method and answers 405, in Service
// Center's error format, for the others.
type methods map[string]http.HandlerFunc

func (m methods) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h, ok := m[r.Method]; ok {
		h(w, r)
		return
	}
	if r.Method == http.MethodHead {
		if h, ok := m[http.MethodGet]; ok {
			h(w, r)
			return
		}
	}
	allowed := make([]string, 0, len(m))
	for method := range m {
		allowed = append(allowed, method)
	}
	w.Header().Set("Allow", strings.Join(sortedStrings(allowed), ", "))
	writeError(w, codeMethodNotAllowed, "Method not allowed", r.Method+" "+r.URL.Path)
}

type api struct {
	Options
	// instanceID and serviceID identify the exporter in the health answer,
	// as Service Center's instance and service ids identify it: the
	// instance id is new with every process, the service id is stable.
	instanceID, serviceID string
}

// newInstanceID returns 32 random hex digits, the form of Service Center's
// instance ids.
func newInstanceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// serviceID is 40 hex digits, the form of Service Center's service ids,
// derived from the program name so that it is the same for every replica.
func serviceID() string {
	sum := sha1.Sum([]byte("default/default/servicecomb_exporter"))
	return hex.EncodeToString(sum[:])
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (the streamed
// dump extends its write deadline).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush lets streaming handlers (metrics with compression) flush through.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// recordServerErrors raises InternalError whenever a handler answers with a
// 5xx, as Service Center does, and turns a handler panic into a 500 instead
// of a dropped connection.
func (a *api) recordServerErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				level.Error(a.Logger).Log("msg", "panic serving request", "method", r.Method, "path", r.URL.Path,
					"panic", p, "stack", string(debug.Stack()))
				if rec.status == 0 {
					writeError(rec, codeInternal, "Internal server error", "panic serving request")
				} else {
					rec.status = http.StatusInternalServerError
				}
			}
			// A 503 from /-/ready means "not yet", not a server fault.
			if rec.status >= 500 && r.URL.Path != "/-/ready" {
				detail := fmt.Sprintf("%s %s: %d %s", r.Method, r.URL.Path, rec.status, http.StatusText(rec.status))
				if err := a.Alarms.Raise(alarm.InternalError, alarm.Detail("%s", detail)); err != nil {
					level.Error(a.Logger).Log("msg", "raising InternalError", "err", err)
				}
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// adminOnly lets only the default domain and project through, as Service
// Center does for its dump (the alarms are served to everyone).
func (a *api) adminOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		domain := r.Header.Get("X-Domain-Name")
		if domain == "" {
			domain = "default"
		}
		if project := r.PathValue("project"); domain != "default" || project != "default" {
			writeError(w, codeForbidden, "Forbidden", "the dump and clusters are only served for domain and project default")
			return
		}
		next.ServeHTTP(w, r)
	})
}
