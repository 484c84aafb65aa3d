package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/servicecomb/servicecomb_exporter/internal/embedetcd"
)

// embeddedQuota is the backend quota of the embedded etcd: room for
// registries of millions of instances (etcd's default is 2 GiB).
const embeddedQuota = 8 << 30

// Restarts after an outage retry a few times: the port may take a moment to
// be free again.
const (
	restartAttempts = 5
	restartWait     = 500 * time.Millisecond
)

// embedded is the in-process etcd of --embedded, which outages stop and
// restart on the same address and data directory. Only its owner's
// goroutine touches it: run while the program runs, close after.
type embedded struct {
	opts     embedetcd.Options
	tempDir  bool // remove opts.Dir on close
	srv      *embedetcd.Server
	endpoint string
	logger   log.Logger
}

// outage is the schedule of --outage.*: the first outage starts after
// after, lasts duration, and starts again every every (0: once).
type outage struct {
	after, duration, every time.Duration
}

// startEmbedded starts etcd on addr with its data in dir (a new temporary
// directory if empty).
func startEmbedded(addr, dir string, logger log.Logger) (*embedded, error) {
	e := &embedded{logger: logger}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "servicecomb-simulator-etcd-")
		if err != nil {
			return nil, fmt.Errorf("--embedded.dir: %w", err)
		}
		dir, e.tempDir = tmp, true
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("--embedded.dir: %w", err)
	}
	e.opts = embedetcd.Options{Dir: dir, ClientAddress: addr, NoFsync: true, Quiet: true, QuotaBytes: embeddedQuota}
	srv, err := embedetcd.Start(e.opts)
	if err != nil {
		e.close()
		return nil, err
	}
	e.srv, e.endpoint = srv, srv.Endpoint
	// Restarts must come back where clients look for it, even when the
	// first start picked a random port.
	u, err := url.Parse(srv.Endpoint)
	if err != nil {
		e.close()
		return nil, fmt.Errorf("embedded etcd endpoint %q: %w", srv.Endpoint, err)
	}
	e.opts.ClientAddress = u.Host
	return e, nil
}

// close stops etcd and removes a temporary data directory.
func (e *embedded) close() {
	if e.srv != nil {
		e.srv.Close()
		e.srv = nil
	}
	if e.tempDir {
		if err := os.RemoveAll(e.opts.Dir); err != nil {
			level.Warn(e.logger).Log("msg", "removing the embedded etcd's directory", "dir", e.opts.Dir, "err", err)
		}
	}
}

// pauser is what an outage needs of the simulator.
type pauser interface {
	Pause()
	Resume()
}

// run stages the outages of o until ctx is done, and fails if etcd fails.
func (e *embedded) run(ctx context.Context, sim pauser, o outage) error {
	timer := time.NewTimer(o.after)
	defer timer.Stop()
	fire := timer.C
	if o.after <= 0 {
		fire = nil // no outage
	}
	start := time.Now().Add(o.after)
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-e.srv.Err():
			if err == nil {
				err = errors.New("stopped unexpectedly")
			}
			return fmt.Errorf("embedded etcd: %w", err)
		case <-fire:
		}
		if err := e.outage(ctx, sim, o.duration); err != nil || ctx.Err() != nil {
			return err
		}
		if o.every <= 0 {
			fire = nil
			continue
		}
		// Outages start every o.every from the first, whatever they took;
		// one that is overdue starts at once.
		for !start.After(time.Now()) {
			start = start.Add(o.every)
		}
		timer.Reset(time.Until(start))
		level.Info(e.logger).Log("msg", "next outage scheduled", "at", start.UTC().Format(time.RFC3339))
	}
}

// outage pauses churn, stops etcd for d, restarts it and resumes churn.
func (e *embedded) outage(ctx context.Context, sim pauser, d time.Duration) error {
	level.Info(e.logger).Log("msg", "outage: pausing churn")
	sim.Pause() // waits for a step in flight, or for the initial load
	level.Info(e.logger).Log("msg", "outage: stopping embedded etcd")
	// etcd stops gracefully: it refuses new requests at once but waits up to
	// its request timeout (7s) for open streams (watches, lease renewals).
	stopping := time.Now()
	e.srv.Close()
	e.srv = nil
	level.Info(e.logger).Log("msg", "outage: embedded etcd stopped", "took", time.Since(stopping).Round(time.Millisecond), "duration", d)

	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil
	case <-t.C:
	}

	level.Info(e.logger).Log("msg", "outage over: restarting embedded etcd", "endpoint", e.endpoint)
	var err error
	for attempt := 1; attempt <= restartAttempts; attempt++ {
		if e.srv, err = embedetcd.Start(e.opts); err == nil {
			break
		}
		level.Warn(e.logger).Log("msg", "restarting embedded etcd failed", "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(restartWait):
		}
	}
	if err != nil {
		return fmt.Errorf("restarting embedded etcd: %w", err)
	}
	sim.Resume()
	level.Info(e.logger).Log("msg", "outage: embedded etcd back, churn resumed")
	return nil
}
