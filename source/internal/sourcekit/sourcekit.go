// Package sourcekit holds what every registry source shares: how it reports
// its backend's reachability, how it waits before retrying, its snapshot,
// and how it counts and logs registry data it cannot count.
package sourcekit

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/servicecomb/servicecomb_exporter/registry"
)

// StatusReporter is told when a source loses and regains its backend; the
// source manager turns this into the BackendConnectionRefuse alarm.
type StatusReporter interface {
	SourceDown(source, detail string)
	SourceUp(source string)
}

// NopStatus is a StatusReporter that ignores everything.
type NopStatus struct{}

func (NopStatus) SourceDown(string, string) {}
func (NopStatus) SourceUp(string)           {}

// SetDefault sets *v to def when it is the zero value.
func SetDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Jitter spreads the retries of many exporters over [d/2, d].
func Jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// NewSnapshot is the snapshot of a source that has not synced yet.
func NewSnapshot(name, typ string) registry.Snapshot {
	return registry.Snapshot{
		Source:      name,
		Type:        typ,
		Syncs:       map[string]uint64{"success": 0, "failure": 0},
		WatchEvents: map[registry.WatchEvent]uint64{},
	}
}

// Snapshot is what a source's Snapshot returns: snap with its maps
// copied, the counts of state, the churn counters and the decode errors.
// The caller holds the lock that guards snap, state and churn.
func Snapshot(snap registry.Snapshot, state *registry.State, churn *registry.ChurnCounter, errs *DecodeErrors) registry.Snapshot {
	snap.Churn = churn.Churn()
	snap.Syncs = maps.Clone(snap.Syncs)
	snap.WatchEvents = maps.Clone(snap.WatchEvents)
	snap.Counts = state.Counts()
	snap.DecodeErrors = make(map[string]uint64, len(registry.Kinds))
	for _, k := range registry.Kinds {
		snap.DecodeErrors[k.String()] = errs.Load(k)
	}
	return snap
}

// Services is what a source's Services returns. The caller holds the lock
// that guards snap and state.
func Services(snap registry.Snapshot, state *registry.State) registry.ServiceSnapshot {
	return registry.ServiceSnapshot{Source: snap.Source, Synced: snap.Synced, Services: state.ServiceCounts()}
}

// DecodeLogInterval rate-limits the logging of bad registry data per kind;
// every occurrence is still counted.
const DecodeLogInterval = 10 * time.Second

// DecodeErrors counts the registry data a source cannot count, by kind,
// and logs it now and then. Scrapes read the counts while the source adds
// to them.
type DecodeErrors struct {
	counts [registry.NumKinds]atomic.Uint64

	mu      sync.Mutex
	lastLog [registry.NumKinds]time.Time
}

// Add adds n to kind's count and returns the new count.
func (d *DecodeErrors) Add(kind registry.Kind, n uint64) uint64 { return d.counts[kind].Add(n) }

// Load returns kind's count.
func (d *DecodeErrors) Load(kind registry.Kind) uint64 { return d.counts[kind].Load() }

// Log logs one entry that cannot be counted, unless one of its kind was
// logged within DecodeLogInterval; total is the count the log reports.
func (d *DecodeErrors) Log(logger log.Logger, kind registry.Kind, key []byte, err error, total uint64) {
	now := time.Now()
	d.mu.Lock()
	if now.Sub(d.lastLog[kind]) < DecodeLogInterval {
		d.mu.Unlock()
		return
	}
	d.lastLog[kind] = now
	d.mu.Unlock()
	level.Warn(logger).Log("msg", "skipping registry data that cannot be counted",
		"kind", kind, "key", TruncateKey(key), "err", err, "errors_total", total)
}

// TruncateKey quotes a registry key for a log, cut at 256 bytes: a key is
// data from the registry, of any length.
func TruncateKey(key []byte) string {
	const max = 256
	if len(key) > max {
		return fmt.Sprintf("%q…", key[:max])
	}
	return fmt.Sprintf("%q", key)
}
