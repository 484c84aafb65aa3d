// Package sourcekit holds what every registry source shares: how it reports
// its backend's reachability, and how it waits before retrying.
package sourcekit

import (
	"math/rand/v2"
	"time"
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
