// Package reload holds the running configuration: it loads the file,
// hands a new configuration to the components that follow it, keeps the old
// one when anything fails, and records every attempt for the
// servicecomb_exporter_config_* metrics and the status page.
package reload

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/servicecomb/servicecomb_exporter/config"
	"github.com/servicecomb/servicecomb_exporter/internal/logging"
)

// Status is the record of configuration loads, read by the metrics and by
// the status page.
type Status struct {
	File        string    // the configuration file, or "(defaults)"
	LastAttempt time.Time // zero before the first load
	Successful  bool      // whether the last attempt succeeded
	LastSuccess time.Time
	LastError   string // "" after a success
	Successes   uint64
	Failures    uint64
}

// Holder owns the running configuration: it loads the file, hands a
// new configuration to the components that follow it, and keeps the old one
// when anything fails.
type Holder struct {
	logger   log.Logger
	filename string // "" runs on defaults; reloads then keep the defaults
	apply    func(*config.Config) error

	mu      sync.Mutex // one reload at a time
	current atomic.Pointer[config.Config]

	// status is the one record of load results: the metrics and the status
	// page both read it.
	statusMu sync.Mutex
	status   Status
}

// New returns a holder of the configuration in filename ("" for the
// defaults) that hands every loaded configuration to apply. Nothing is
// loaded before the first Reload.
func New(logger log.Logger, filename string, apply func(*config.Config) error) *Holder {
	h := &Holder{logger: logger, filename: filename, apply: apply}
	h.status.File = h.filenameOrDefaults()
	return h
}

// Status returns the record of configuration loads.
func (h *Holder) Status() Status {
	h.statusMu.Lock()
	defer h.statusMu.Unlock()
	return h.status
}

func (h *Holder) record(err error) {
	h.statusMu.Lock()
	defer h.statusMu.Unlock()
	now := time.Now()
	h.status.LastAttempt, h.status.Successful = now, err == nil
	if err != nil {
		h.status.LastError = err.Error()
		h.status.Failures++
		return
	}
	h.status.LastSuccess, h.status.LastError = now, ""
	h.status.Successes++
}

// Current returns the configuration in force.
func (h *Holder) Current() *config.Config { return h.current.Load() }

// Reload reads the file and applies it. On any error the running
// configuration stays in force and the error names the key and line.
func (h *Holder) Reload() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	err := h.load()
	h.record(err)
	if err != nil {
		// At start-up nothing is running yet: the caller reports the
		// error, once, and the exporter does not start.
		if h.Current() != nil {
			logging.Error(h.logger, "configuration not loaded, keeping the running one", err, "file", h.filename)
		}
		return err
	}
	level.Info(h.logger).Log("msg", "configuration loaded", "file", h.filenameOrDefaults())
	return nil
}

func (h *Holder) load() error {
	cfg := config.Default()
	if h.filename != "" {
		data, err := os.ReadFile(h.filename)
		if err != nil {
			return fmt.Errorf("reading config file: %w", err)
		}
		if err := refuseBlank(h.filename, data, h.Current()); err != nil {
			return err
		}
		if cfg, err = config.Parse(data, h.filename); err != nil {
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
func (h *Holder) Redacted() ([]byte, error) {
	cfg := h.Current()
	if cfg == nil {
		return nil, fmt.Errorf("no configuration loaded")
	}
	return cfg.Redacted()
}

func (h *Holder) filenameOrDefaults() string {
	if h.filename == "" {
		return "(defaults)"
	}
	return h.filename
}

// refuseBlank refuses, on reload, a file without any YAML document while the
// running configuration watches or alerts: such a file loads as "no sources,
// no Alertmanagers", which is also what a file caught half-written by an
// editor or a configuration management tool looks like. Emptying the
// configuration on purpose takes a key (sources: []); at start-up (running
// nil) an empty file stays valid.
func refuseBlank(filename string, data []byte, running *config.Config) error {
	if running == nil || !config.IsBlank(data) {
		return nil
	}
	if n, m := len(running.Sources), len(running.Alerting.Alertmanagers); n > 0 || m > 0 {
		return fmt.Errorf("%s: the file is empty (no YAML document) but the running configuration has %d sources and %d Alertmanagers; "+
			"refusing to remove them (write `sources: []` to do so on purpose)", filename, n, m)
	}
	return nil
}
