package registry

import (
	"maps"
	"sync"
)

// Churn counts instances that appeared (registrations) and disappeared
// (deregistrations, lease expiry included) per domain and project since a
// source started. A list of the registry adds nothing: only changes seen
// between two reads count, so the counters start at 0 and a relist does not
// make them jump.
type Churn struct {
	Registrations   map[DomainProject]uint64
	Deregistrations map[DomainProject]uint64
}

// Clone returns a deep copy.
func (c Churn) Clone() Churn {
	return Churn{Registrations: maps.Clone(c.Registrations), Deregistrations: maps.Clone(c.Deregistrations)}
}

// ChurnCounter keeps the Churn of one configured source. It outlives the
// States a source builds at each list, and the Source itself: the source
// manager hands the same counter to every Source it builds for one source
// name, so that a reload restarting it does not reset the counters. It
// holds nothing per instance. It is safe for concurrent use (a Source being
// replaced may still count while its successor starts).
type ChurnCounter struct {
	mu    sync.Mutex
	names map[string]string // interned domain and project names
	churn Churn
}

// NewChurnCounter returns counters at 0.
func NewChurnCounter() *ChurnCounter {
	return &ChurnCounter{names: map[string]string{},
		churn: Churn{Registrations: map[DomainProject]uint64{}, Deregistrations: map[DomainProject]uint64{}}}
}

// Observe counts one watch event: a put of an instance key that had no
// previous value registers an instance, a delete (etcd only reports deletes
// of keys that exist) deregisters one. A put over an existing key (a status
// change, a heartbeat's rewrite) changes nothing. Keys that do not fit the
// layout are not instances and are not counted; values do not matter.
func (c *ChurnCounter) Observe(layout Layout, e Event) {
	raw, err := layout.parseRaw(e.Key)
	if err != nil || raw.kind != KindInstance {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case e.Type == Delete:
		c.churn.Deregistrations[c.dp(raw.parts[0], raw.parts[1])]++
	case !e.HasPrev:
		c.churn.Registrations[c.dp(raw.parts[0], raw.parts[1])]++
	}
}

// Add counts registrations and deregistrations found another way (the
// difference between two polls).
func (c *ChurnCounter) Add(dp DomainProject, registered, deregistered uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if registered > 0 {
		c.churn.Registrations[dp] += registered
	}
	if deregistered > 0 {
		c.churn.Deregistrations[dp] += deregistered
	}
}

// Churn returns a copy of the counters.
func (c *ChurnCounter) Churn() Churn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.churn.Clone()
}

func (c *ChurnCounter) dp(domain, project []byte) DomainProject {
	return DomainProject{c.intern(domain), c.intern(project)}
}

func (c *ChurnCounter) intern(b []byte) string {
	if name, ok := c.names[string(b)]; ok {
		return name
	}
	name := string(b)
	c.names[name] = name
	return name
}
