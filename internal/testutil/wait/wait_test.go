package wait

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeT records a failure and stops its goroutine the way testing.T does.
type fakeT struct {
	testing.TB
	failure string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatal(args ...any) {
	f.failure = fmt.Sprint(args...)
	runtime.Goexit()
}
func (f *fakeT) Fatalf(format string, args ...any) { f.Fatal(fmt.Sprintf(format, args...)) }

// run calls wait with a fakeT in its own goroutine, as Fatal ends it.
func run(wait func(t testing.TB)) (failure string, took time.Duration) {
	f := &fakeT{}
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		wait(f)
	}()
	<-done
	return f.failure, time.Since(start)
}

func TestFor(t *testing.T) {
	const timeout = 100 * time.Millisecond
	tests := []struct {
		name        string
		holdAfter   int64 // cond holds from this call on; 0: never
		err         error
		opts        []Option
		wantFailure []string // "" parts: must not fail
		wantAtLeast time.Duration
	}{
		{name: "holds at once", holdAfter: 1},
		{name: "holds after some polls", holdAfter: 5, wantAtLeast: 4 * time.Millisecond, opts: []Option{Every(time.Millisecond)}},
		{name: "never holds", wantFailure: []string{"timed out after 100ms waiting for the thing", "checked"}, wantAtLeast: timeout},
		{name: "never holds, with detail", opts: []Option{Detail(func() string { return "the logs" })},
			wantFailure: []string{"waiting for the thing", "\nthe logs"}, wantAtLeast: timeout},
		{name: "error fails at once", err: errors.New("boom"), wantFailure: []string{"waiting for the thing: boom"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			cond := func() (bool, error) {
				n := calls.Add(1)
				return tc.holdAfter > 0 && n >= tc.holdAfter, tc.err
			}
			failure, took := run(func(ft testing.TB) {
				if tc.err != nil {
					ForNoError(ft, "the thing", timeout, cond, tc.opts...)
					return
				}
				For(ft, "the thing", timeout, func() bool { ok, _ := cond(); return ok }, tc.opts...)
			})
			if len(tc.wantFailure) == 0 && failure != "" {
				t.Fatalf("failed: %s", failure)
			}
			if len(tc.wantFailure) > 0 && failure == "" {
				t.Fatal("did not fail")
			}
			for _, want := range tc.wantFailure {
				if !strings.Contains(failure, want) {
					t.Errorf("failure %q does not contain %q", failure, want)
				}
			}
			if took < tc.wantAtLeast {
				t.Errorf("returned after %v, before %v", took, tc.wantAtLeast)
			}
			if tc.holdAfter > 0 && calls.Load() != tc.holdAfter {
				t.Errorf("condition checked %d times, want %d (stop as soon as it holds)", calls.Load(), tc.holdAfter)
			}
			if tc.err != nil && calls.Load() != 1 {
				t.Errorf("condition checked %d times after an error, want 1", calls.Load())
			}
		})
	}
}
