// Package etcd is the registry source that reads Service Center's etcd
// backend: a consistent, paged list of the registry at one revision, then a
// watch from the next revision with previous values, so that every create,
// update and delete is applied to the counts exactly, without keeping a copy
// of each instance.
package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	commoncfg "github.com/prometheus/common/config"
	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/servicecomb/servicecomb_exporter/config"
	"github.com/servicecomb/servicecomb_exporter/registry"
	"github.com/servicecomb/servicecomb_exporter/source/internal/sourcekit"
)

// Type is the source type reported in snapshots.
const Type = "etcd"

// Defaults for Options fields left zero.
const (
	DefaultPageSize = 2000
	// DefaultMaxPageBytes is the client's receive limit, which bounds the
	// memory of a page of the list (and of a watch response): a few pages
	// are in memory at once. Service Center's documents are ~1 KB, so
	// 2,000 of them fit many times over; oversized values make pages shrink.
	DefaultMaxPageBytes = 8 << 20
	// DefaultServicesPerRange: a listing range covers the instances of
	// this many services (see lister).
	DefaultServicesPerRange = 64
	DefaultProbeInterval    = time.Second
	DefaultProbeTimeout     = 2 * time.Second
	DefaultMinBackoff       = 250 * time.Millisecond
	// DefaultMaxBackoff is low so that the source is back, and its
	// BackendConnectionRefuse cleared, within a few seconds of etcd serving
	// again: a retry costs one count-only read.
	DefaultMaxBackoff = 2 * time.Second
)

// StatusReporter is told when the source loses and regains its backend.
type StatusReporter = sourcekit.StatusReporter

// Options configure a Source.
type Options struct {
	Name   string
	Config config.EtcdConfig
	// Rules are the counting rules and whether per-service counts are kept.
	Rules  registry.Rules
	Logger log.Logger
	Status StatusReporter
	// Churn receives the instance registrations and deregistrations seen
	// in the watch. The source manager passes the same one to every Source
	// it builds for one configured source; nil gives the source its own.
	Churn *registry.ChurnCounter

	// Tuning, mostly for tests; zero means the default.
	PageSize         int
	MaxPageBytes     int
	ServicesPerRange int
	ProbeInterval    time.Duration
	ProbeTimeout     time.Duration
	MinBackoff       time.Duration
	MaxBackoff       time.Duration

	hooks hooks // set by the package's tests and benchmarks only
}

// hooks let the package's tests and benchmarks observe a run; a nil one is
// skipped.
type hooks struct {
	afterList  func(revision int64) // between the list and the watch
	afterApply func(revision int64) // after each watch response is applied
	onPage     func(bytes int)      // keys and values of each page received
	// resync, when it receives, ends the watch as a failed event would:
	// the registry is listed again.
	resync <-chan struct{}

	onRange func(start, end string) // each range a list pages through
}

// Source watches one etcd. Create it with New and run it with Run.
type Source struct {
	opts      Options
	layout    registry.Layout
	clientCfg clientv3.Config
	endpoints string // for messages

	decodeErrors sourcekit.DecodeErrors

	mu    sync.Mutex // guards state, churn and snap
	state *registry.State
	// churn counts registrations and deregistrations from the watch; it
	// outlives the state each list builds, so that a relist neither resets
	// nor moves it.
	churn *registry.ChurnCounter
	snap  registry.Snapshot // counters and health; Counts filled on demand
}

// New returns a source for a configuration that config has validated and
// resolved (defaults set, password read); it does not check it again. It
// loads the TLS files, so a client that cannot be built fails here.
func New(o Options) (*Source, error) {
	if o.Name == "" {
		return nil, errors.New("etcd source: empty name")
	}
	if o.Logger == nil {
		o.Logger = log.NewNopLogger()
	}
	if o.Status == nil {
		o.Status = sourcekit.NopStatus{}
	}
	sourcekit.SetDefault(&o.PageSize, DefaultPageSize)
	sourcekit.SetDefault(&o.MaxPageBytes, DefaultMaxPageBytes)
	sourcekit.SetDefault(&o.ServicesPerRange, DefaultServicesPerRange)
	sourcekit.SetDefault(&o.ProbeInterval, DefaultProbeInterval)
	sourcekit.SetDefault(&o.ProbeTimeout, DefaultProbeTimeout)
	sourcekit.SetDefault(&o.MinBackoff, DefaultMinBackoff)
	sourcekit.SetDefault(&o.MaxBackoff, DefaultMaxBackoff)
	if d := time.Duration(o.Config.RequestTimeout); d > 0 && d < o.ProbeTimeout {
		o.ProbeTimeout = d
	}

	password, err := o.Config.ReadPassword()
	if err != nil {
		return nil, fmt.Errorf("etcd source %s: %w", o.Name, err)
	}
	var tlsCfg *tls.Config
	if needsTLS(o.Config) {
		if tlsCfg, err = commoncfg.NewTLSConfig(&o.Config.TLSConfig); err != nil {
			return nil, fmt.Errorf("etcd source %s: tls_config: %w", o.Name, err)
		}
	}
	s := &Source{
		opts:   o,
		layout: registry.NewLayout(o.Config.Prefix),
		clientCfg: clientv3.Config{
			Endpoints:   o.Config.Endpoints,
			DialTimeout: time.Duration(o.Config.DialTimeout),
			Username:    o.Config.Username,
			Password:    password,
			TLS:         tlsCfg,
			Logger:      zap.NewNop(), // failures reach our log through the returned errors
			// The default is 2 GiB: a page of oversized values would be
			// received whole, by a sync or a cache dump.
			MaxCallRecvMsgSize: o.MaxPageBytes,
			// gRPC's own reconnect backoff grows to two minutes; after an
			// outage the source should be back within seconds (see
			// DefaultMaxBackoff).
			DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: 250 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
				MinConnectTimeout: max(time.Duration(o.Config.DialTimeout), time.Second),
			})},
		},
		endpoints: redactedEndpoints(o.Config.Endpoints),
	}
	s.state = registry.NewState(s.layout, o.Rules, s.decodeError)
	if s.churn = o.Churn; s.churn == nil {
		s.churn = registry.NewChurnCounter()
	}
	s.snap = sourcekit.NewSnapshot(o.Name, Type)
	return s, nil
}

// redactedEndpoints joins the endpoints for messages, with any password
// written into a URL replaced by xxxxx.
func redactedEndpoints(endpoints []string) string {
	out := make([]string, len(endpoints))
	for i, e := range endpoints {
		out[i] = e
		if u, err := url.Parse(e); err == nil {
			out[i] = u.Redacted()
		}
	}
	return strings.Join(out, ",")
}

func needsTLS(c config.EtcdConfig) bool {
	if c.TLSConfig.CAFile != "" || c.TLSConfig.CertFile != "" || c.TLSConfig.ServerName != "" ||
		c.TLSConfig.InsecureSkipVerify || c.TLSConfig.CA != "" || c.TLSConfig.Cert != "" {
		return true
	}
	for _, e := range c.Endpoints {
		if strings.HasPrefix(e, "https://") {
			return true
		}
	}
	return false
}

// Name is the configured source name.
func (s *Source) Name() string { return s.opts.Name }

// Snapshot returns the source's counts and health.
func (s *Source) Snapshot() registry.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sourcekit.Snapshot(s.snap, s.state, s.churn, &s.decodeErrors)
}

// Services returns the source's per-service counts.
func (s *Source) Services() registry.ServiceSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sourcekit.Services(s.snap, s.state)
}

// errResync marks failures after which the registry must be listed again
// although etcd is reachable: compaction, a cancelled watch, an event that
// cannot be applied exactly.
type errResync struct{ err error }

func (e errResync) Error() string { return e.err.Error() }
func (e errResync) Unwrap() error { return e.err }

// Run lists and watches until ctx is done, listing again with capped
// exponential backoff and jitter after every failure. It returns nil when
// ctx ends, after closing the client.
func (s *Source) Run(ctx context.Context) error {
	var client *clientv3.Client
	defer func() {
		if client != nil {
			_ = client.Close()
		}
	}()
	backoff := s.opts.MinBackoff
	for {
		var err error
		if client == nil {
			cfg := s.clientCfg
			cfg.Context = ctx
			client, err = clientv3.New(cfg)
			if err != nil {
				client = nil
				err = fmt.Errorf("connecting: %w", err)
			}
		}
		synced := false
		if err == nil {
			synced, err = s.syncAndWatch(ctx, client)
		}
		if ctx.Err() != nil {
			return nil
		}
		if synced {
			backoff = s.opts.MinBackoff
		}
		s.recordFailure(s.withCause(ctx, err), synced)
		wait := sourcekit.Jitter(backoff)
		level.Debug(s.opts.Logger).Log("msg", "listing the registry again", "after", wait, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(backoff*2, s.opts.MaxBackoff)
	}
}

// recordFailure updates health after syncAndWatch returned err. A resync
// failure leaves the source up: etcd answered, only the watch must restart.
func (s *Source) recordFailure(err error, synced bool) {
	var resync errResync
	isResync := errors.As(err, &resync)
	s.mu.Lock()
	if !synced {
		s.snap.Syncs["failure"]++
	}
	s.snap.LastError = err.Error()
	wasUp := s.snap.Up
	if !isResync {
		s.snap.Up = false
	}
	s.mu.Unlock()
	if isResync {
		level.Info(s.opts.Logger).Log("msg", "registry watch restarts with a new list", "reason", err)
		return
	}
	if wasUp || !synced {
		level.Warn(s.opts.Logger).Log("msg", "etcd unreachable", "endpoints", s.endpoints, "err", err)
	}
	s.opts.Status.SourceDown(s.opts.Name, fmt.Sprintf("etcd source %s (%s): %v", s.opts.Name, s.endpoints, err))
}

// syncAndWatch lists the registry, swaps the new counts in and follows the
// watch until it fails. synced reports whether the list succeeded.
func (s *Source) syncAndWatch(ctx context.Context, client *clientv3.Client) (synced bool, err error) {
	if err := s.probe(ctx, client); err != nil {
		return false, err
	}
	start := time.Now()
	state, rev, from, err := s.list(ctx, client)
	if err == nil && s.opts.hooks.afterList != nil {
		s.opts.hooks.afterList(rev)
	}
	if err != nil {
		if errors.Is(err, rpctypes.ErrCompacted) {
			return false, errResync{fmt.Errorf("listing: %w", err)}
		}
		return false, fmt.Errorf("listing: %w", err)
	}
	s.mu.Lock()
	s.state = state
	s.snap.Up, s.snap.Synced = true, true
	s.snap.LastSync = time.Now()
	s.snap.SyncDuration = registry.Duration(s.snap.LastSync.Sub(start))
	s.snap.Revision = rev
	s.snap.LastError = ""
	s.snap.Syncs["success"]++
	s.mu.Unlock()
	s.opts.Status.SourceUp(s.opts.Name)
	level.Info(s.opts.Logger).Log("msg", "registry synced", "revision", rev, "duration", time.Since(start))

	watchCtx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	probeFailed := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.probeLoop(watchCtx, client, from, probeFailed)
	}()
	defer wg.Wait()
	defer cancel() // runs before wg.Wait: stops the prober

	events := client.Watch(watchCtx, s.layout.Root(), clientv3.WithPrefix(), clientv3.WithRev(rev+1), clientv3.WithPrevKV(),
		// etcd splits a large response into fragments under its request
		// size limit, so that a big transaction stays under MaxPageBytes.
		clientv3.WithFragment())
	for {
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case err := <-probeFailed:
			return true, err
		case <-s.opts.hooks.resync:
			return true, errResync{errors.New("resync requested by a test")}
		case resp, ok := <-events:
			if !ok {
				return true, errResync{errors.New("watch channel closed")}
			}
			if resp.CompactRevision != 0 {
				return true, errResync{fmt.Errorf("watch: revision %d compacted (oldest is %d)", rev+1, resp.CompactRevision)}
			}
			if err := resp.Err(); err != nil {
				if errors.Is(err, rpctypes.ErrNoLeader) {
					return true, fmt.Errorf("watch: %w", err)
				}
				return true, errResync{fmt.Errorf("watch: %w", err)}
			}
			applied, err := s.apply(resp.Events)
			if err != nil {
				return true, errResync{err}
			}
			if s.opts.hooks.afterApply != nil && applied != 0 {
				s.opts.hooks.afterApply(applied)
			}
		}
	}
}

// probe checks that etcd answers a linearizable read: the watch alone
// would wait silently for a lost connection to come back.
func (s *Source) probe(ctx context.Context, client *clientv3.Client) error {
	_, err := s.probeHeader(ctx, client)
	return err
}

func (s *Source) probeHeader(ctx context.Context, client *clientv3.Client) (*etcdserverpb.ResponseHeader, error) {
	probeCtx, cancel := context.WithTimeout(ctx, s.opts.ProbeTimeout)
	defer cancel()
	resp, err := client.Get(probeCtx, s.layout.Root(), clientv3.WithCountOnly())
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	return resp.Header, nil
}

// probeLoop probes etcd until ctx ends. A probe that fails means etcd is
// unreachable; one answered by another etcd than the one listed (see
// origin) means the registry must be listed again.
func (s *Source) probeLoop(ctx context.Context, client *clientv3.Client, from origin, failed chan<- error) {
	ticker := time.NewTicker(s.opts.ProbeInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			applied := s.appliedRevision()
			header, err := s.probeHeader(ctx, client)
			if err == nil {
				if err = from.check(header, applied); err != nil {
					err = errResync{err}
				}
			}
			if err != nil {
				if ctx.Err() == nil {
					failed <- err
				}
				return
			}
		}
	}
}

// appliedRevision is the revision the counts have reached.
func (s *Source) appliedRevision() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snap.Revision
}

// apply applies one watch response under the lock, so that a scrape sees
// either none or all of it. It returns the revision of the last event: a response's header carries
// etcd's current revision, which is ahead of the events while the watch
// replays a backlog.
func (s *Source) apply(events []*clientv3.Event) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range events {
		e := registry.Event{Key: ev.Kv.Key, Value: ev.Kv.Value}
		if ev.Type == clientv3.EventTypeDelete {
			e.Type = registry.Delete
		}
		if ev.PrevKv != nil {
			e.PrevValue, e.HasPrev = ev.PrevKv.Value, true
		}
		// Only here, never in a list: the watch alone tells an instance
		// that appears or goes from one that was listed.
		s.churn.Observe(s.layout, e)
		kind, err := s.state.Apply(e)
		s.snap.WatchEvents[registry.WatchEvent{Kind: kind.String(), Type: e.Type.String()}]++
		if err != nil {
			return 0, err
		}
		s.snap.Revision = ev.Kv.ModRevision
	}
	return s.snap.Revision, nil
}

// decodeError counts bad registry data and logs it now and then.
func (s *Source) decodeError(kind registry.Kind, key []byte, err error) {
	s.decodeErrors.Log(s.opts.Logger, kind, key, err, s.decodeErrors.Add(kind, 1))
}
