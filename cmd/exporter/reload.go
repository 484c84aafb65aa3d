package main

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/servicecomb/servicecomb_exporter/config"
)

// configHolder owns the running configuration: it loads the file, hands a
// new configuration to the components that follow it, and keeps the old one
// when anything fails.
type configHolder struct {
	logger   log.Logger
	filename string // "" runs on defaults; reloads then keep the defaults
	apply    func(*config.Config) error

	mu      sync.Mutex // one reload at a time
	current atomic.Pointer[config.Config]

	lastSuccessful prometheus.Gauge
	lastSuccessTS  prometheus.Gauge
	reloads        *prometheus.CounterVec
}

func newConfigHolder(logger log.Logger, filename string, apply func(*config.Config) error, reg prometheus.Registerer) *configHolder {
	h := &configHolder{
		logger:   logger,
		filename: filename,
		apply:    apply,
		lastSuccessful: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "servicecomb_exporter", Name: "config_last_reload_successful",
			Help: "Whether the last configuration load or reload succeeded (1) or failed (0).",
		}),
		lastSuccessTS: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "servicecomb_exporter", Name: "config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful configuration load or reload.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "servicecomb_exporter", Name: "config_reloads_total",
			Help: "Configuration loads and reloads, by result (success or failure).",
		}, []string{"result"}),
	}
	h.reloads.WithLabelValues("success")
	h.reloads.WithLabelValues("failure")
	reg.MustRegister(h.lastSuccessful, h.lastSuccessTS, h.reloads)
	return h
}

// Current returns the configuration in force.
func (h *configHolder) Current() *config.Config { return h.current.Load() }

// Reload reads the file and applies it. On any error the running
// configuration stays in force and the error names the key and line.
func (h *configHolder) Reload() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	err := h.load()
	if err != nil {
		h.lastSuccessful.Set(0)
		h.reloads.WithLabelValues("failure").Inc()
		level.Error(h.logger).Log("msg", "configuration not loaded, keeping the running one", "file", h.filename, "err", err)
		return err
	}
	h.lastSuccessful.Set(1)
	h.lastSuccessTS.SetToCurrentTime()
	h.reloads.WithLabelValues("success").Inc()
	level.Info(h.logger).Log("msg", "configuration loaded", "file", h.filenameOrDefaults())
	return nil
}

func (h *configHolder) load() error {
	cfg := config.Default()
	if h.filename != "" {
		var err error
		if cfg, err = config.Load(h.filename); err != nil {
			return err
		}
	}
	if err := h.apply(cfg); err != nil {
		return fmt.Errorf("applying configuration: %w", err)
	}
	h.current.Store(cfg)
	return nil
}

// Redacted is the running configuration as YAML without secrets.
func (h *configHolder) Redacted() ([]byte, error) {
	cfg := h.Current()
	if cfg == nil {
		return nil, fmt.Errorf("no configuration loaded")
	}
	return cfg.Redacted()
}

func (h *configHolder) filenameOrDefaults() string {
	if h.filename == "" {
		return "(defaults)"
	}
	return h.filename
}
