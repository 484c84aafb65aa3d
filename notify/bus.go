package notify

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// DefaultQueueSize is the queue capacity of a type registered without one,
// as in Service Center.
const DefaultQueueSize = 1000

// dropLogInterval bounds how often one type logs that it dropped events, so
// that a flood of drops is counted in full but logged only now and then.
const dropLogInterval = 10 * time.Second

// TypeOptions configures one event type.
type TypeOptions struct {
	// QueueSize is the capacity of the type's queue; 0 means DefaultQueueSize.
	QueueSize int
	// FullTimeout is how long Publish waits for room in a full queue before
	// dropping the event. 0 drops at once.
	FullTimeout time.Duration
}

// Bus routes events from publishers to subscribers. Each registered type has
// its own bounded queue and delivery goroutine, so one busy type never delays
// another. The zero value is not usable; create one with New and run it with
// Run.
type Bus struct {
	logger log.Logger

	mu    sync.Mutex                   // serialises registration and subscriber changes
	types atomic.Pointer[[]*eventType] // copy-on-write; read on every Publish

	running bool // guarded by mu
	stopped bool // guarded by mu

	workers sync.WaitGroup
}

type eventType struct {
	// Read by both sides.
	name        string
	queue       *queue
	capacity    int
	fullTimeout time.Duration

	// Written by publishers. The padding keeps these counters off the cache
	// line that the delivery goroutine reads, which would otherwise bounce
	// between cores on every event.
	_         [64]byte
	published atomic.Uint64
	dropped   atomic.Uint64
	lastDrop  atomic.Int64 // unix nanoseconds of the last logged drop
	_         [64]byte

	// Read by the delivery goroutine.
	routes  atomic.Pointer[routeTable]
	removed atomic.Uint64
}

// routeTable is immutable once published; changes build a new one.
type routeTable struct {
	subjects map[string]*subjectRoutes
	count    int
}

type subjectRoutes struct {
	all    []Subscriber
	groups map[string][]Subscriber
}

// New returns a bus with no types. Register types, add subscribers and call
// Run; events published before Run wait in their queues.
func New(logger log.Logger) *Bus {
	if logger == nil {
		logger = log.NewNopLogger()
	}
	b := &Bus{logger: logger}
	b.types.Store(&[]*eventType{})
	return b
}

// RegisterType adds an event type. Names must be unique on the bus.
func (b *Bus) RegisterType(name string, opts TypeOptions) (Type, error) {
	if name == "" {
		return 0, fmt.Errorf("notify: register type: empty name")
	}
	if opts.QueueSize < 0 || opts.FullTimeout < 0 {
		return 0, fmt.Errorf("notify: register type %q: negative queue size or timeout", name)
	}
	if opts.QueueSize == 0 {
		opts.QueueSize = DefaultQueueSize
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	old := *b.types.Load()
	for _, t := range old {
		if t.name == name {
			return 0, fmt.Errorf("notify: register type %q: already registered", name)
		}
	}
	et := &eventType{
		name:        name,
		queue:       newQueue(opts.QueueSize),
		capacity:    opts.QueueSize,
		fullTimeout: opts.FullTimeout,
	}
	et.routes.Store(&routeTable{subjects: map[string]*subjectRoutes{}})
	if b.stopped {
		return 0, ErrStopped
	}
	types := make([]*eventType, len(old), len(old)+1)
	copy(types, old)
	types = append(types, et)
	b.types.Store(&types)
	if b.running {
		b.startWorker(et)
	}
	return Type(len(types) - 1), nil
}

// TypeName returns the name a type was registered with, or "" if unknown.
func (b *Bus) TypeName(t Type) string {
	if et := b.lookup(t); et != nil {
		return et.name
	}
	return ""
}

func (b *Bus) lookup(t Type) *eventType {
	types := *b.types.Load()
	if t < 0 || int(t) >= len(types) {
		return nil
	}
	return types[t]
}

// Run starts delivery and blocks until ctx is done. It then stops the bus:
// Publish fails with ErrStopped, events already queued are delivered, and Run
// returns once every delivery goroutine has exited. A bus runs once.
func (b *Bus) Run(ctx context.Context) error {
	b.mu.Lock()
	if b.running {
		b.mu.Unlock()
		return fmt.Errorf("notify: bus already started")
	}
	b.running = true
	for _, et := range *b.types.Load() {
		b.startWorker(et)
	}
	b.mu.Unlock()

	<-ctx.Done()

	// A closed queue refuses new events under the same lock that accepted
	// the earlier ones, so each worker delivers every accepted event and
	// then exits.
	b.mu.Lock()
	b.stopped = true
	for _, et := range *b.types.Load() {
		et.queue.close()
	}
	b.mu.Unlock()
	b.workers.Wait()
	return nil
}

func (b *Bus) startWorker(et *eventType) {
	b.workers.Add(1)
	go func() {
		defer b.workers.Done()
		for batch := et.queue.take(); batch != nil; batch = et.queue.take() {
			for _, e := range batch {
				b.dispatch(et, e)
			}
		}
	}()
}

// Publish queues e for delivery. It fails for a nil event, an unknown type,
// an empty subject, a stopped bus, and a full queue that stayed full for the
// type's FullTimeout (the event is then dropped and counted).
func (b *Bus) Publish(e Event) error {
	if e == nil {
		return ErrNilEvent
	}
	et := b.lookup(e.Type())
	if et == nil {
		return ErrUnknownType
	}
	if e.Subject() == "" {
		return ErrNoSubject
	}
	ok, err := et.queue.put(e)
	if err != nil {
		return err
	}
	if ok {
		et.published.Add(1)
		return nil
	}
	return b.publishFull(et, e)
}

// publishFull is Publish's slow path, kept apart so that the fast path
// allocates nothing (the timer only exists when a queue is full).
func (b *Bus) publishFull(et *eventType, e Event) error {
	if et.fullTimeout > 0 {
		ok, err := et.queue.putWait(e, et.fullTimeout)
		if err != nil {
			return err
		}
		if ok {
			et.published.Add(1)
			return nil
		}
	}
	n := et.dropped.Add(1)
	now := time.Now().UnixNano()
	if last := et.lastDrop.Load(); now-last >= int64(dropLogInterval) && et.lastDrop.CompareAndSwap(last, now) {
		level.Warn(b.logger).Log("msg", "event queue full, dropping events", "type", et.name,
			"capacity", et.capacity, "wait", et.fullTimeout, "dropped_total", n)
	}
	return ErrDropped
}

func (b *Bus) dispatch(et *eventType, e Event) {
	sr := et.routes.Load().subjects[e.Subject()]
	if sr == nil {
		return
	}
	subs := sr.all
	if g := e.Group(); g != "" {
		subs = sr.groups[g]
	}
	for i := 0; i < len(subs); {
		i = b.deliverFrom(et, e, subs, i)
	}
}

// deliverFrom delivers e to subs[i:] and returns len(subs), or, when a
// subscriber panics, removes it and returns the index after it. The panic
// costs one deferred recover per event rather than one per subscriber, and a
// broken subscriber is removed instead of taking the process down.
func (b *Bus) deliverFrom(et *eventType, e Event, subs []Subscriber, i int) (next int) {
	defer func() {
		if r := recover(); r != nil {
			b.removeFailed(et, subs[next], fmt.Errorf("panic in OnMessage: %v", r))
			next++
		}
	}()
	for next = i; next < len(subs); next++ {
		if err := subs[next].OnMessage(e); err != nil {
			b.removeFailed(et, subs[next], err)
		}
	}
	return next
}

func (b *Bus) removeFailed(et *eventType, s Subscriber, cause error) {
	if b.unsubscribe(et, s.Subject(), s.ID()) {
		et.removed.Add(1)
		level.Warn(b.logger).Log("msg", "removed failed subscriber", "type", et.name,
			"subject", s.Subject(), "group", s.Group(), "id", s.ID(), "err", cause)
	}
}

// Subscribe adds s. Its id must be unique among the subscribers of its type.
func (b *Bus) Subscribe(s Subscriber) error {
	if s == nil {
		return fmt.Errorf("notify: subscribe: nil subscriber")
	}
	et := b.lookup(s.Type())
	if et == nil {
		return fmt.Errorf("notify: subscribe %q: %w", s.ID(), ErrUnknownType)
	}
	if s.Subject() == "" {
		return fmt.Errorf("notify: subscribe %q: %w", s.ID(), ErrNoSubject)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	old := et.routes.Load()
	for _, sr := range old.subjects {
		for _, x := range sr.all {
			if x.ID() == s.ID() {
				return fmt.Errorf("notify: subscribe %q: %w", s.ID(), ErrDuplicateSub)
			}
		}
	}
	et.routes.Store(old.with(s.Subject(), func(subs []Subscriber) []Subscriber { return append(subs, s) }))
	return nil
}

// Unsubscribe removes s; it reports whether s was subscribed.
func (b *Bus) Unsubscribe(s Subscriber) bool {
	et := b.lookup(s.Type())
	if et == nil {
		return false
	}
	return b.unsubscribe(et, s.Subject(), s.ID())
}

func (b *Bus) unsubscribe(et *eventType, subject, id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := et.routes.Load()
	sr := old.subjects[subject]
	if sr == nil {
		return false
	}
	found := false
	rt := old.with(subject, func(subs []Subscriber) []Subscriber {
		kept := subs[:0:0]
		for _, x := range subs {
			if x.ID() == id {
				found = true
				continue
			}
			kept = append(kept, x)
		}
		return kept
	})
	if found {
		et.routes.Store(rt)
	}
	return found
}

// with returns a copy of rt whose subject's subscriber list is edit's result,
// with the per-group index rebuilt from it.
func (rt *routeTable) with(subject string, edit func([]Subscriber) []Subscriber) *routeTable {
	next := &routeTable{subjects: make(map[string]*subjectRoutes, len(rt.subjects)+1)}
	for k, v := range rt.subjects {
		if k != subject {
			next.subjects[k] = v
			next.count += len(v.all)
		}
	}
	var current []Subscriber
	if sr := rt.subjects[subject]; sr != nil {
		current = append([]Subscriber(nil), sr.all...)
	}
	all := edit(current)
	if len(all) == 0 {
		return next
	}
	sr := &subjectRoutes{all: all, groups: map[string][]Subscriber{}}
	for _, s := range all {
		sr.groups[s.Group()] = append(sr.groups[s.Group()], s)
	}
	next.subjects[subject] = sr
	next.count += len(all)
	return next
}

// TypeStats is a snapshot of one type's counters, for metrics.
type TypeStats struct {
	Name               string
	QueueLength        int
	QueueCapacity      int
	Published          uint64 // accepted into the queue
	Dropped            uint64 // refused because the queue stayed full
	Subscribers        int
	SubscribersRemoved uint64 // removed because they failed
}

// Stats returns a snapshot of every registered type, in registration order.
func (b *Bus) Stats() []TypeStats {
	types := *b.types.Load()
	out := make([]TypeStats, 0, len(types))
	for _, et := range types {
		out = append(out, TypeStats{
			Name:               et.name,
			QueueLength:        et.queue.len(),
			QueueCapacity:      et.capacity,
			Published:          et.published.Load(),
			Dropped:            et.dropped.Load(),
			Subscribers:        et.routes.Load().count,
			SubscribersRemoved: et.removed.Load(),
		})
	}
	return out
}
