// Package notify is an in-process event bus: publishers hand events of a
// registered type to the bus, and the bus delivers each one, in publication
// order, to the subscribers of the event's subject and group.
//
// The semantics follow Service Center's pkg/notify: the subject is required,
// an empty group broadcasts to every group of the subject, and a subscriber
// that reports an error is removed. Unlike Service Center, the bus is a value
// that its owner creates and runs (no package-level singleton), every queue
// is bounded with an explicit overflow policy, and every drop is counted.
package notify

import "errors"

// Type identifies a registered event type on one Bus. It is only meaningful
// for the Bus that returned it.
type Type int

// Event is what a publisher hands to the bus. Implementations are usually a
// struct embedding BaseEvent; publishing a pointer to a pre-built event does
// not allocate.
type Event interface {
	Type() Type
	// Subject is required: events are routed by it.
	Subject() string
	// Group restricts delivery to one group of the subject's subscribers;
	// empty means every group.
	Group() string
}

// BaseEvent implements Event; embed it in concrete event types.
type BaseEvent struct {
	EventType    Type
	EventSubject string
	EventGroup   string
}

// NewBaseEvent returns a BaseEvent with the given routing.
func NewBaseEvent(t Type, subject, group string) BaseEvent {
	return BaseEvent{EventType: t, EventSubject: subject, EventGroup: group}
}

func (e *BaseEvent) Type() Type      { return e.EventType }
func (e *BaseEvent) Subject() string { return e.EventSubject }
func (e *BaseEvent) Group() string   { return e.EventGroup }

// Subscriber receives the events of one type, subject and group.
//
// OnMessage runs on the type's delivery goroutine and must not block: a slow
// subscriber delays every other subscriber of the type and, once the queue is
// full, the publishers. Subscribers with slow work hand it to their own
// goroutine (a channel they drain). Returning an error removes the subscriber from the
// bus; the removal is counted.
type Subscriber interface {
	ID() string
	Type() Type
	Subject() string
	Group() string
	OnMessage(Event) error
}

// Errors returned by Publish and Subscribe.
var (
	ErrStopped      = errors.New("notify: bus is stopped")
	ErrNilEvent     = errors.New("notify: nil event")
	ErrUnknownType  = errors.New("notify: unknown event type")
	ErrNoSubject    = errors.New("notify: event has no subject")
	ErrDropped      = errors.New("notify: queue full, event dropped")
	ErrDuplicateSub = errors.New("notify: subscriber id already registered for this type")
)

// FuncSubscriber is a Subscriber whose OnMessage calls a function.
type FuncSubscriber struct {
	SubscriberID      string
	SubscriberType    Type
	SubscriberSubject string
	SubscriberGroup   string
	Func              func(Event) error
}

// NewFuncSubscriber returns a subscriber that calls fn for each event.
func NewFuncSubscriber(id string, t Type, subject, group string, fn func(Event) error) *FuncSubscriber {
	return &FuncSubscriber{SubscriberID: id, SubscriberType: t, SubscriberSubject: subject, SubscriberGroup: group, Func: fn}
}

func (s *FuncSubscriber) ID() string              { return s.SubscriberID }
func (s *FuncSubscriber) Type() Type              { return s.SubscriberType }
func (s *FuncSubscriber) Subject() string         { return s.SubscriberSubject }
func (s *FuncSubscriber) Group() string           { return s.SubscriberGroup }
func (s *FuncSubscriber) OnMessage(e Event) error { return s.Func(e) }
