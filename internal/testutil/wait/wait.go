// Package wait has the one helper tests use to wait for a condition with
// a deadline, instead of sleeping.
package wait

import (
	"fmt"
	"testing"
	"time"
)

// DefaultInterval is how often For polls unless told otherwise.
const DefaultInterval = 10 * time.Millisecond

// Option changes how For polls or what it reports.
type Option func(*waitConfig)

type waitConfig struct {
	interval time.Duration
	detail   func() string
}

// Every polls at interval d instead of DefaultInterval: shorter for cheap
// conditions in tight loops, longer for conditions that query a process.
func Every(d time.Duration) Option {
	return func(c *waitConfig) { c.interval = d }
}

// Detail adds what f returns (for example the logs of the process under
// test) to the failure message, so a timeout says why, not only what.
func Detail(f func() string) Option {
	return func(c *waitConfig) { c.detail = f }
}

// For polls cond until it holds. Once timeout has passed without it
// holding, it fails t with what it was waiting for, how long and how many
// times it looked, and any Detail.
func For(t testing.TB, what string, timeout time.Duration, cond func() bool, opts ...Option) {
	t.Helper()
	c := waitConfig{interval: DefaultInterval}
	for _, o := range opts {
		o(&c)
	}
	start := time.Now()
	deadline := start.Add(timeout)
	for polls := 1; !cond(); polls++ {
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("timed out after %v waiting for %s (condition checked %d times over %v)",
				timeout, what, polls, time.Since(start).Round(time.Millisecond))
			if c.detail != nil {
				msg += "\n" + c.detail()
			}
			t.Fatal(msg)
		}
		time.Sleep(c.interval)
	}
}

// ForNoError is For for a condition that can fail: an error from
// cond fails t at once, naming what was awaited.
func ForNoError(t testing.TB, what string, timeout time.Duration, cond func() (bool, error), opts ...Option) {
	t.Helper()
	For(t, what, timeout, func() bool {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		return ok
	}, opts...)
}
