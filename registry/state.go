package registry

import (
	"errors"
	"fmt"
	"maps"
)

// DomainProject names a project.
type DomainProject struct {
	Domain, Project string
}

// ServiceGroup is the label set services are counted by.
type ServiceGroup struct {
	Domain, Project, Framework, FrameworkVersion string
}

// InstanceGroup is the label set instances are counted by.
type InstanceGroup struct {
	Domain, Project, Status string
}

// Counts is the registry summarised: sets of domains and projects, and
// numbers of services and instances per group. Groups whose count drops to
// zero are removed, so that their series disappear.
type Counts struct {
	Domains   map[string]struct{}
	Projects  map[DomainProject]struct{}
	Services  map[ServiceGroup]int64
	Instances map[InstanceGroup]int64
}

// NewCounts returns empty counts.
func NewCounts() Counts {
	return Counts{
		Domains:   map[string]struct{}{},
		Projects:  map[DomainProject]struct{}{},
		Services:  map[ServiceGroup]int64{},
		Instances: map[InstanceGroup]int64{},
	}
}

// Clone returns a deep copy.
func (c Counts) Clone() Counts {
	return Counts{
		Domains:   maps.Clone(c.Domains),
		Projects:  maps.Clone(c.Projects),
		Services:  maps.Clone(c.Services),
		Instances: maps.Clone(c.Instances),
	}
}

// EventType is a change in the key-value store.
type EventType uint8

const (
	Put EventType = iota
	Delete
)

func (t EventType) String() string {
	if t == Delete {
		return "DELETE"
	}
	return "PUT"
}

// Event is one change of one key. PrevValue is the value before the change
// (etcd's prev_kv); HasPrev tells an absent previous value from an empty
// one. Carrying the previous value is what lets State apply updates and
// deletes exactly without remembering every instance.
type Event struct {
	Type      EventType
	Key       []byte
	Value     []byte
	PrevValue []byte
	HasPrev   bool
}

// ErrInconsistent means an event cannot be applied exactly (a delete
// without its previous value, a count going below zero): the source must
// list the registry again.
var ErrInconsistent = errors.New("registry state inconsistent with event")

// DecodeErrorFunc is told about every key or incoming value that cannot be
// counted. Previous values are not reported again: they were reported when
// they came in.
type DecodeErrorFunc func(kind Kind, key []byte, err error)

// State applies registry events to Counts. It is not safe for concurrent
// use: its owner applies events and hands out clones of the counts.
type State struct {
	layout        Layout
	excludeGlobal bool
	onError       DecodeErrorFunc
	counts        Counts
	// names interns domain and project names, so that counting a key
	// allocates nothing once its domain and project have been seen.
	names map[string]string
	// global holds the ids of Service Center's global services in
	// default/default, so that their instances are left out too. Ids stay
	// after the service is deleted, since its instances' deletes may
	// follow; the set is tiny and starts afresh with every full list.
	global map[string]struct{}
}

// NewState returns an empty state. With excludeGlobal, Service Center's own
// global services (domain and project default, app default) and their
// instances are not counted, as Service Center's own gauges do.
func NewState(layout Layout, excludeGlobal bool, onError DecodeErrorFunc) *State {
	if onError == nil {
		onError = func(Kind, []byte, error) {}
	}
	return &State{layout: layout, excludeGlobal: excludeGlobal, onError: onError,
		counts: NewCounts(), global: map[string]struct{}{}, names: map[string]string{}}
}

// Counts returns a copy of the current counts.
func (s *State) Counts() Counts { return s.counts.Clone() }

// Apply applies one event. Bad keys and values are reported and skipped;
// the error is only ever ErrInconsistent.
func (s *State) Apply(e Event) (Kind, error) {
	raw, err := s.layout.parseRaw(e.Key)
	if err != nil {
		s.onError(raw.kind, e.Key, err)
		return raw.kind, nil
	}
	switch raw.kind {
	case KindDomain:
		if e.Type == Put {
			s.counts.Domains[s.intern(raw.parts[0])] = struct{}{}
		} else {
			delete(s.counts.Domains, string(raw.parts[0]))
		}
	case KindProject:
		dp := DomainProject{s.intern(raw.parts[0]), s.intern(raw.parts[1])}
		if e.Type == Put {
			s.counts.Projects[dp] = struct{}{}
		} else {
			delete(s.counts.Projects, dp)
		}
	case KindService:
		return raw.kind, s.applyService(raw, e)
	case KindInstance:
		return raw.kind, s.applyInstance(raw, e)
	}
	return raw.kind, nil
}

// intern returns b as a string, allocating only the first time it is seen.
func (s *State) intern(b []byte) string {
	if name, ok := s.names[string(b)]; ok {
		return name
	}
	name := string(b)
	s.names[name] = name
	return name
}

func (s *State) applyService(key rawKey, e Event) error {
	if e.Type == Delete && !e.HasPrev {
		return fmt.Errorf("%w: delete of %s without its previous value", ErrInconsistent, e.Key)
	}
	if e.HasPrev {
		if prev, err := DecodeService(e.PrevValue); err == nil && !s.isGlobalService(key, prev) {
			if err := s.addService(key, prev, -1); err != nil {
				return err
			}
		}
	}
	if e.Type == Put {
		svc, err := DecodeService(e.Value)
		if err != nil {
			s.onError(KindService, e.Key, err)
			return nil
		}
		if s.isGlobalService(key, svc) {
			s.global[string(key.parts[2])] = struct{}{}
			return nil
		}
		return s.addService(key, svc, 1)
	}
	return nil
}

func (s *State) applyInstance(key rawKey, e Event) error {
	if e.Type == Delete && !e.HasPrev {
		return fmt.Errorf("%w: delete of %s without its previous value", ErrInconsistent, e.Key)
	}
	if s.isGlobalInstance(key) {
		return nil
	}
	if e.HasPrev {
		if prev, err := DecodeInstance(e.PrevValue); err == nil {
			if err := s.addInstance(key, prev, -1); err != nil {
				return err
			}
		}
	}
	if e.Type == Put {
		status, err := DecodeInstance(e.Value)
		if err != nil {
			s.onError(KindInstance, e.Key, err)
			return nil
		}
		return s.addInstance(key, status, 1)
	}
	return nil
}

func isDefaultProject(key rawKey) bool {
	return string(key.parts[0]) == "default" && string(key.parts[1]) == "default"
}

func (s *State) isGlobalService(key rawKey, svc Service) bool {
	return s.excludeGlobal && isDefaultProject(key) && svc.AppID == "default"
}

func (s *State) isGlobalInstance(key rawKey) bool {
	if !s.excludeGlobal || !isDefaultProject(key) {
		return false
	}
	_, ok := s.global[string(key.parts[2])]
	return ok
}

func (s *State) addService(key rawKey, svc Service, delta int64) error {
	g := ServiceGroup{Domain: s.intern(key.parts[0]), Project: s.intern(key.parts[1]),
		Framework: s.intern([]byte(svc.Framework)), FrameworkVersion: s.intern([]byte(svc.FrameworkVersion))}
	return add(s.counts.Services, g, delta)
}

func (s *State) addInstance(key rawKey, status string, delta int64) error {
	return add(s.counts.Instances, InstanceGroup{Domain: s.intern(key.parts[0]), Project: s.intern(key.parts[1]), Status: status}, delta)
}

func add[K comparable](m map[K]int64, k K, delta int64) error {
	n := m[k] + delta
	switch {
	case n < 0:
		return fmt.Errorf("%w: count of %v would drop below zero", ErrInconsistent, k)
	case n == 0:
		delete(m, k)
	default:
		m[k] = n
	}
	return nil
}
