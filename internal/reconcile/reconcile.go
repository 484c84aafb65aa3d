// Package reconcile keeps a set of children, each built from one keyed
// piece of configuration, in line with the configuration: a child whose
// configuration is unchanged keeps running (and its state), a changed one
// is replaced, a removed one goes. It is the config-hash reuse of
// Prometheus's notifier and discovery managers, for one child per key.
//
// A Set does no locking and starts and stops nothing: its owner holds its
// own lock around Update, starts what Update installed and stops what it
// took out, outside that lock when stopping waits.
package reconcile

import (
	"fmt"
	"iter"
	"reflect"
)

// Spec is one wanted child.
type Spec[K comparable, C any] struct {
	Key K
	// Fingerprint is everything the child is built from; a running child
	// with an equal fingerprint (reflect.DeepEqual) is kept.
	Fingerprint any
	// Build makes the child; it is called only for a new or changed key.
	Build func() (C, error)
}

// Child is a child with its key.
type Child[K comparable, C any] struct {
	Key   K
	Child C
}

// Stopped is a child Update took out of the set.
type Stopped[K comparable, C any] struct {
	Key   K
	Child C
	// Removed: its key is no longer configured (false: it was replaced by
	// a child built from a changed configuration).
	Removed bool
}

// Change is what Update did, for the owner to start and stop.
type Change[K comparable, C any] struct {
	Started []Child[K, C]   // new and replacing children, in spec order
	Stopped []Stopped[K, C] // replaced and removed children
}

// Set is the running children by key. The zero value is an empty set.
type Set[K comparable, C any] struct {
	children map[K]entry[C]
}

type entry[C any] struct {
	child       C
	fingerprint any
}

// Update makes the set hold one child per spec. It builds every new or
// changed child first; if a build fails, or two specs have the same key,
// it returns the error and the set is unchanged.
func (s *Set[K, C]) Update(specs []Spec[K, C]) (Change[K, C], error) {
	var change Change[K, C]
	wanted := make(map[K]bool, len(specs))
	built := make([]entry[C], len(specs))
	changed := make([]bool, len(specs))
	for i, sp := range specs {
		if wanted[sp.Key] {
			return Change[K, C]{}, fmt.Errorf("%v is configured twice", sp.Key)
		}
		wanted[sp.Key] = true
		if e, ok := s.children[sp.Key]; ok && reflect.DeepEqual(e.fingerprint, sp.Fingerprint) {
			continue
		}
		c, err := sp.Build()
		if err != nil {
			return Change[K, C]{}, err
		}
		built[i], changed[i] = entry[C]{child: c, fingerprint: sp.Fingerprint}, true
	}
	if s.children == nil {
		s.children = map[K]entry[C]{}
	}
	for i, sp := range specs {
		if !changed[i] {
			continue
		}
		if old, ok := s.children[sp.Key]; ok {
			change.Stopped = append(change.Stopped, Stopped[K, C]{Key: sp.Key, Child: old.child})
		}
		s.children[sp.Key] = built[i]
		change.Started = append(change.Started, Child[K, C]{sp.Key, built[i].child})
	}
	for k, e := range s.children {
		if !wanted[k] {
			delete(s.children, k)
			change.Stopped = append(change.Stopped, Stopped[K, C]{Key: k, Child: e.child, Removed: true})
		}
	}
	return change, nil
}

// Get returns the child of key.
func (s *Set[K, C]) Get(key K) (C, bool) {
	e, ok := s.children[key]
	return e.child, ok
}

// Len is the number of children.
func (s *Set[K, C]) Len() int { return len(s.children) }

// All yields every child with its key, in no particular order.
func (s *Set[K, C]) All() iter.Seq2[K, C] {
	return func(yield func(K, C) bool) {
		for k, e := range s.children {
			if !yield(k, e.child) {
				return
			}
		}
	}
}
