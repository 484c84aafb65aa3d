package alarm

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/servicecomb/servicecomb_exporter/notify"
)

// Transition is the kind of change an Event reports.
type Transition string

const (
	// TransitionActivated: a new alarm, or a cleared one raised again.
	TransitionActivated Transition = "activated"
	// TransitionUpdated: an active alarm raised with different fields.
	TransitionUpdated Transition = "updated"
	// TransitionCleared: an active alarm cleared; it stays listed.
	TransitionCleared Transition = "cleared"
	// TransitionRemoved: ClearAll removed the alarm from the list. Its
	// status is CLEARED; ClearedAt is when it was cleared (now, if ClearAll
	// found it active).
	TransitionRemoved Transition = "removed"
)

// Event reports one change of state to the center's subscribers.
type Event struct {
	// Seq numbers the center's events from 1, in the order the state
	// changed; subscribers receive them in that order.
	Seq        uint64
	Transition Transition
	Alarm      Alarm // a snapshot; its Fields map is never modified
	// Definition describes the alarm's id, so that consumers need not call
	// back into the center from the delivery goroutine.
	Definition Definition
}

// busEvent carries an Event on the bus; only the center sees it.
type busEvent struct {
	notify.BaseEvent
	event Event
}

// Bus is the part of the notify bus the center uses: it registers its own
// event type, publishes on it and subscribes consumers to it.
type Bus interface {
	RegisterType(name string, opts notify.TypeOptions) (notify.Type, error)
	Publish(notify.Event) error
	Subscribe(notify.Subscriber) error
}

// EventType is the name of the center's type on the bus, which the bus's
// metrics show.
const EventType = "ALARM"

// DefaultQueueWait is how long a transition waits for room on the bus
// before it is dropped (and counted): long enough to ride out a burst,
// short enough that a stuck consumer cannot stall the components raising
// alarms for long. Readers (List, the health check, scrapes) never wait
// for it: the center publishes outside its lock.
const DefaultQueueWait = time.Second

// Option changes how NewCenter sets up the center's events.
type Option func(*notify.TypeOptions)

// WithQueue sets the capacity of the center's queue on the bus and how
// long a transition waits for room in it; the defaults are
// notify.DefaultQueueSize and DefaultQueueWait.
func WithQueue(size int, wait time.Duration) Option {
	return func(o *notify.TypeOptions) { o.QueueSize, o.FullTimeout = size, wait }
}

// ErrUnknownID is returned when the exporter raises an id nobody registered.
var ErrUnknownID = errors.New("alarm: unknown alarm id")

type key struct {
	source string
	id     ID
}

type entry struct {
	alarm Alarm
	// generation counts raises, so that an auto-clear timer armed by an
	// older raise never clears a newer one.
	generation uint64
	timer      *time.Timer
}

// TransitionCount is the number of times alarms of one id and source entered
// one status. It only grows, even when ClearAll empties the list.
type TransitionCount struct {
	ID     ID
	Source string
	Status Status
	Count  uint64
}

// Center holds the alarms. Create it with NewCenter; it is safe for
// concurrent use.
type Center struct {
	logger    log.Logger
	bus       Bus
	eventType notify.Type
	now       func() time.Time

	mu          sync.Mutex
	definitions map[ID]Definition
	alarms      map[key]*entry
	transitions map[TransitionCount]uint64 // keyed with Count 0
	closed      bool
	// seq numbers the events; outbox holds the ones not yet handed to the
	// bus, in seq order (see unlockAndFlush).
	seq    uint64
	outbox []*busEvent

	// publishing serialises unlockAndFlush, so that events reach the bus
	// in seq order. Readers never take it.
	publishing sync.Mutex
	spare      []*busEvent // guarded by publishing: the last batch, for the outbox to reuse
}

// NewCenter returns a center with the built-in definitions. It registers
// the center's event type on bus; subscribe consumers with Subscribe. A nil
// logger discards.
func NewCenter(bus Bus, logger log.Logger, opts ...Option) (*Center, error) {
	if logger == nil {
		logger = log.NewNopLogger()
	}
	to := notify.TypeOptions{QueueSize: notify.DefaultQueueSize, FullTimeout: DefaultQueueWait}
	for _, o := range opts {
		o(&to)
	}
	eventType, err := bus.RegisterType(EventType, to)
	if err != nil {
		return nil, fmt.Errorf("alarm: center events: %w", err)
	}
	c := &Center{
		logger:      logger,
		bus:         bus,
		eventType:   eventType,
		now:         time.Now,
		definitions: map[ID]Definition{},
		alarms:      map[key]*entry{},
		transitions: map[TransitionCount]uint64{},
	}
	for _, d := range builtinDefinitions() {
		c.definitions[d.ID] = d
		c.zeroTransitions(d.ID)
	}
	for _, d := range serviceCenterDefinitions() {
		c.definitions[d.ID] = d
	}
	return c, nil
}

// Subscribe calls fn with every event, in order, on the bus's delivery
// goroutine, after List already shows the change: fn must not block (hand
// slow work to a goroutine of its own), or it delays the other subscribers
// and, once the queue is full, the callers of Raise and Clear. name
// identifies the subscriber in the bus's logs; it must be unique. A
// panicking fn is removed from the bus, which counts it.
func (c *Center) Subscribe(name string, fn func(Event)) error {
	err := c.bus.Subscribe(notify.NewFuncSubscriber(name, c.eventType, Subject, name, func(e notify.Event) error {
		if be, ok := e.(*busEvent); ok {
			fn(be.event)
		}
		return nil
	}))
	if err != nil {
		return fmt.Errorf("alarm: subscribe %s: %w", name, err)
	}
	return nil
}

// zeroTransitions makes the exporter's own transition counters of id exist
// at zero, so that their series (and rates over them) exist before the
// first transition.
func (c *Center) zeroTransitions(id ID) {
	for _, s := range []Status{Activated, Cleared} {
		k := TransitionCount{ID: id, Status: s}
		if _, ok := c.transitions[k]; !ok {
			c.transitions[k] = 0
		}
	}
}

// Register adds an alarm id. Registering a built-in or existing id again is
// an error; use SetAutoClear to change the quiet period.
func (c *Center) Register(d Definition) error {
	if d.ID == "" {
		return fmt.Errorf("alarm: register: empty id")
	}
	if d.AutoClearAfter < 0 {
		return fmt.Errorf("alarm: register %s: negative auto-clear period", d.ID)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.definitions[d.ID]; ok {
		return fmt.Errorf("alarm: register %s: already registered", d.ID)
	}
	c.definitions[d.ID] = d
	c.zeroTransitions(d.ID)
	return nil
}

// SetAutoClear changes an id's quiet period (0 disables auto-clear). Active
// alarms keep the timer of their last raise; the new period applies from
// their next raise.
func (c *Center) SetAutoClear(id ID, after time.Duration) error {
	if after < 0 {
		return fmt.Errorf("alarm: auto-clear of %s: negative period", id)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.definitions[id]
	if !ok {
		return fmt.Errorf("alarm: auto-clear of %s: %w", id, ErrUnknownID)
	}
	d.AutoClearAfter = after
	c.definitions[id] = d
	return nil
}

// Definition returns the description of id; ids nobody registered (mirrored
// Service Center alarms) get a generic one with severity warning.
func (c *Center) Definition(id ID) Definition {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.definition(id)
}

func (c *Center) definition(id ID) Definition {
	if d, ok := c.definitions[id]; ok {
		return d
	}
	return defaultDefinition(id)
}

// Raise activates the exporter's own alarm id with fields, replacing the
// fields of an earlier raise. Raising an active alarm with identical fields
// only counts the raise and restarts its quiet period.
func (c *Center) Raise(id ID, fields ...Field) error {
	return c.RaiseFrom("", id, fields...)
}

// RaiseFrom is Raise for an alarm of another source, such as one mirrored
// from a Service Center. Ids need not be registered when source is set.
func (c *Center) RaiseFrom(source string, id ID, fields ...Field) error {
	encoded, err := encodeFields(fields)
	if err != nil {
		return fmt.Errorf("alarm: raise %s: %w", id, err)
	}
	c.mu.Lock()
	def, registered := c.definitions[id]
	if !registered && source == "" {
		c.mu.Unlock()
		return fmt.Errorf("alarm: raise %s: %w", id, ErrUnknownID)
	}
	now := c.now()
	k := key{source: source, id: id}
	e := c.alarms[k]
	var transition Transition
	switch {
	case e == nil:
		e = &entry{alarm: Alarm{ID: id, Source: source}}
		c.alarms[k] = e
		transition = TransitionActivated
	case !e.alarm.Active():
		transition = TransitionActivated
	case !sameFields(e.alarm.Fields, encoded):
		transition = TransitionUpdated
	}
	e.alarm.RaiseCount++
	e.generation++
	c.armAutoClear(k, e, def.AutoClearAfter)
	if transition == "" {
		c.mu.Unlock()
		return nil
	}
	if transition == TransitionActivated {
		e.alarm.Status = Activated
		e.alarm.ActivatedAt = now
		e.alarm.ClearedAt = time.Time{}
		c.countTransition(k, Activated)
	}
	e.alarm.Fields = encoded
	e.alarm.UpdatedAt = now
	c.queueLocked(transition, e.alarm)
	c.unlockAndFlush()
	return nil
}

// Clear marks the exporter's own active alarm id CLEARED; it stays listed.
// Clearing an unknown or already cleared alarm changes nothing.
func (c *Center) Clear(id ID) {
	c.ClearFrom("", id)
}

// ClearFrom is Clear for an alarm of another source.
func (c *Center) ClearFrom(source string, id ID) {
	c.mu.Lock()
	c.clearLocked(key{source: source, id: id}, 0)
	c.unlockAndFlush()
}

// clearLocked clears k if it is active and, when generation is not 0, only
// if no raise came after the one that armed the caller's timer.
func (c *Center) clearLocked(k key, generation uint64) {
	e := c.alarms[k]
	if e == nil || !e.alarm.Active() || (generation != 0 && generation != e.generation) {
		return
	}
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
	now := c.now()
	e.alarm.Status = Cleared
	e.alarm.ClearedAt = now
	e.alarm.UpdatedAt = now
	c.countTransition(k, Cleared)
	c.queueLocked(TransitionCleared, e.alarm)
}

// ClearAll empties the list, as Service Center's DELETE alarms API does.
// Every alarm removed is published as TransitionRemoved, so that consumers
// can resolve what was active.
func (c *Center) ClearAll() {
	c.mu.Lock()
	defer c.unlockAndFlush()
	now := c.now()
	for _, k := range c.sortedKeys() {
		e := c.alarms[k]
		if e.timer != nil {
			e.timer.Stop()
		}
		if e.alarm.Active() {
			e.alarm.Status = Cleared
			e.alarm.ClearedAt = now
			e.alarm.UpdatedAt = now
			c.countTransition(k, Cleared)
		}
		delete(c.alarms, k)
		c.queueLocked(TransitionRemoved, e.alarm)
	}
}

// List returns every listed alarm, ordered by source then id.
func (c *Center) List() []Alarm {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := c.sortedKeys()
	out := make([]Alarm, len(keys))
	for i, k := range keys {
		out[i] = c.alarms[k].alarm
	}
	return out
}

// Get returns the alarm of id and source, if listed.
func (c *Center) Get(source string, id ID) (Alarm, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.alarms[key{source: source, id: id}]; e != nil {
		return e.alarm, true
	}
	return Alarm{}, false
}

// Transitions returns how often each (id, source) entered each status,
// ordered by source, id and status.
func (c *Center) Transitions() []TransitionCount {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]TransitionCount, 0, len(c.transitions))
	for k, n := range c.transitions {
		k.Count = n
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b TransitionCount) int {
		return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.ID, b.ID), cmp.Compare(a.Status, b.Status))
	})
	return out
}

// Close stops the auto-clear timers; alarms stay as they are.
func (c *Center) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, e := range c.alarms {
		if e.timer != nil {
			e.timer.Stop()
			e.timer = nil
		}
	}
}

func (c *Center) sortedKeys() []key {
	keys := make([]key, 0, len(c.alarms))
	for k := range c.alarms {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.source, b.source), cmp.Compare(a.id, b.id))
	})
	return keys
}

func (c *Center) armAutoClear(k key, e *entry, after time.Duration) {
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
	if after <= 0 || c.closed {
		return
	}
	generation := e.generation
	e.timer = time.AfterFunc(after, func() {
		c.mu.Lock()
		if !c.closed {
			c.clearLocked(k, generation)
		}
		c.unlockAndFlush()
	})
}

func (c *Center) countTransition(k key, s Status) {
	c.transitions[TransitionCount{ID: k.id, Source: k.source, Status: s}]++
}

// queueLocked numbers a transition and puts it in the outbox; the caller
// releases c.mu with unlockAndFlush.
func (c *Center) queueLocked(t Transition, a Alarm) {
	c.seq++
	c.outbox = append(c.outbox, &busEvent{
		BaseEvent: notify.NewBaseEvent(c.eventType, Subject, ""),
		event:     Event{Seq: c.seq, Transition: t, Alarm: a, Definition: c.definition(a.ID)},
	})
}

// unlockAndFlush releases c.mu and hands the outbox to the bus. It
// publishes outside c.mu because a full queue makes Publish wait
// (DefaultQueueWait): under c.mu, a slow subscriber would stall List, the
// health check and scrapes. The order is kept without the lock: events
// enter the outbox in seq order under c.mu, and only the holder of
// c.publishing takes them out, all pending at once, so the bus receives
// them in seq order. Every change calls it after queueing its event, so
// that it returns once its event is on the bus (or dropped), published by
// itself or by the caller before, as when the center published under its
// lock.
//
// The wait is kept rather than publishing without it: the forwarder
// re-reads the list, but the log subscriber would lose lines to a burst.
func (c *Center) unlockAndFlush() {
	if len(c.outbox) == 0 {
		c.mu.Unlock() // nothing of the caller's to wait for
		return
	}
	// When nobody publishes, take the outbox without releasing c.mu (one
	// lock round less); TryLock never waits, so the order of the two locks
	// cannot deadlock.
	if !c.publishing.TryLock() {
		c.mu.Unlock()
		c.publishing.Lock()
		c.mu.Lock()
	}
	batch := c.outbox
	c.outbox = c.spare[:0] // so that raises allocate no slice
	c.mu.Unlock()
	for _, be := range batch {
		c.publish(be)
	}
	clear(batch) // drop the references to delivered events
	c.spare = batch
	c.publishing.Unlock()
}

// publish hands one event to the bus. A refused event is logged: the state
// itself is already exact, and consumers that must not miss a change (the
// forwarder) also re-read the list.
func (c *Center) publish(be *busEvent) {
	if err := c.bus.Publish(be); err != nil {
		lvl := level.Warn
		if errors.Is(err, notify.ErrStopped) {
			lvl = level.Debug
		}
		a := be.event.Alarm
		lvl(c.logger).Log("msg", "alarm transition not published", "id", a.ID, "source", a.Source,
			"transition", be.event.Transition, "err", err)
	}
}
