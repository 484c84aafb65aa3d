package registry

import (
	"errors"
	"fmt"
	"hash/maphash"
	"maps"
	"math"
	"strings"
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
	// Orphans are the instances whose service document does not exist.
	// Service Center's gauges leave them out (they walk the services and
	// count each one's instances: reportServices and reportInstances in
	// its datasource/etcd/metrics.go), so Instances does too.
	Orphans map[DomainProject]int64
	// Schemas are the schema summary keys, what Service Center's
	// service_center_db_schema_total counts (reportSchemas, same file):
	// by key alone, whether or not the service exists.
	Schemas map[DomainProject]int64
	// ServiceCenter counts Service Center's own service and its instances,
	// whatever the counting rules.
	ServiceCenter ServiceCenterCounts
}

// ServiceCenterCounts are the SERVICECENTER service documents (see
// Rules.IsServiceCenter) and their instances by InstanceStatuses index:
// Service Center's replicas as the registry sees them.
type ServiceCenterCounts struct {
	Services  int64
	Instances [NumStatuses]int64
}

// NewCounts returns empty counts.
func NewCounts() Counts {
	return Counts{
		Domains:   map[string]struct{}{},
		Projects:  map[DomainProject]struct{}{},
		Services:  map[ServiceGroup]int64{},
		Instances: map[InstanceGroup]int64{},
		Orphans:   map[DomainProject]int64{},
		Schemas:   map[DomainProject]int64{},
	}
}

// Clone returns a deep copy.
func (c Counts) Clone() Counts {
	return Counts{
		Domains:   maps.Clone(c.Domains),
		Projects:  maps.Clone(c.Projects),
		Services:  maps.Clone(c.Services),
		Instances: maps.Clone(c.Instances),
		Orphans:   maps.Clone(c.Orphans),
		Schemas:   maps.Clone(c.Schemas),
		// ServiceCenter is a value: copied.
		ServiceCenter: c.ServiceCenter,
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
//
// It follows Service Center's gauges whatever the order of the events: a
// service is counted while its document exists and is not global, and an
// instance while its service is counted. To apply that exactly, State keeps
// one small entry per service id (its labels and its instances by status),
// never one per instance: an instance written before its service is held in
// its service's entry and counted when the service arrives, and a service
// that stops or starts being global takes its instances with it.
type State struct {
	layout  Layout
	rules   Rules
	onError DecodeErrorFunc
	counts  Counts
	// names interns domain and project names, so that counting a key
	// allocates nothing once its domain and project have been seen.
	names map[string]string
	// services is keyed by two independent 64-bit hashes of
	// "domain/project/serviceID" (serviceKey), with the entries inline: no
	// allocation per service, about 50 bytes a service in all.
	services map[serviceKey]serviceEntry
	seeds    [2]maphash.Seed
	// groups interns the label sets of services, so that an entry holds an
	// index rather than four strings: entries are kept per service, and a
	// registry has many services but few label sets.
	groups     []ServiceGroup
	groupIndex map[ServiceGroup]uint32
}

// serviceKey identifies a service by two 64-bit hashes with independent
// random seeds: two services collide only with probability 2^-128 per pair,
// far below any other source of error, and no key is ever stored.
type serviceKey [2]uint64

// serviceEntry is what State knows of one service id, 64 bytes and, while
// the per-service counts are on, one string. It exists while the service
// document or any of its instances does.
type serviceEntry struct {
	labels  serviceLabels // the service's own labels, while present and Rules.PerService
	group   uint32        // index into State.groups; meaningful while present
	present bool          // a countable service document exists
	counted bool          // present and not global
	stored  bool          // a service document exists, decodable or not: its instances are not orphans
	sc      bool          // present and Service Center's own (IsServiceCenter)
	// instances are instance documents by InstanceStatuses index (the four
	// flags share a word: no growth).
	instances [numStatuses]int32
}

const numStatuses = 5 // len(InstanceStatuses)

// NumStatuses is len(InstanceStatuses).
const NumStatuses = numStatuses

// ServiceInfo is the label set of one service's per-service metrics.
type ServiceInfo struct {
	Domain, Project, Environment, App, Service, Version, ServiceID string
	Framework, FrameworkVersion, Level                             string
}

// serviceLabels packs the labels that are a service's own (app, service,
// version, id, environment, level) into one string: one allocation a
// service rather than a struct and four strings, a third of the memory
// (BenchmarkStateMemory). The group holds the shared ones.
type serviceLabels struct {
	packed string
	ends   [5]uint16 // where each value but the last ends in packed
}

// maxPackedLabel cuts a label value kept for the per-service metrics,
// whose labels are cut far shorter (collector.MaxLabelValueLength), so
// that the offsets of serviceLabels fit in 16 bits.
const maxPackedLabel = 4096

// packLabels packs a service's own labels with one allocation.
func packLabels(app, service, version string, id []byte, env, level string) serviceLabels {
	values := [...]string{app, service, version, "", env, level}
	cut := func(v string) string { return v[:min(len(v), maxPackedLabel)] }
	n := min(len(id), maxPackedLabel)
	for _, v := range values {
		n += len(cut(v))
	}
	var b strings.Builder
	b.Grow(n)
	var l serviceLabels
	for i, v := range values {
		if i == 3 {
			b.Write(id[:min(len(id), maxPackedLabel)])
		} else {
			b.WriteString(cut(v))
		}
		if i < len(l.ends) {
			l.ends[i] = uint16(b.Len())
		}
	}
	l.packed = b.String()
	return l
}

func (l serviceLabels) value(i int) string {
	start, end := 0, len(l.packed)
	if i > 0 {
		start = int(l.ends[i-1])
	}
	if i < len(l.ends) {
		end = int(l.ends[i])
	}
	return l.packed[start:end]
}

// ServiceCount is one counted service and its instances by status (by
// InstanceStatuses index). Info builds its labels.
type ServiceCount struct {
	group     *ServiceGroup // shared, never changed
	labels    serviceLabels
	Instances [NumStatuses]int32
}

// NewServiceCount returns the count of a service with info's labels.
func NewServiceCount(info ServiceInfo, instances [NumStatuses]int32) ServiceCount {
	return ServiceCount{
		group:     &ServiceGroup{Domain: info.Domain, Project: info.Project, Framework: info.Framework, FrameworkVersion: info.FrameworkVersion},
		labels:    packLabels(info.App, info.Service, info.Version, []byte(info.ServiceID), info.Environment, info.Level),
		Instances: instances,
	}
}

// Info returns the service's labels; it allocates nothing.
func (c *ServiceCount) Info() ServiceInfo {
	l := c.labels
	return ServiceInfo{Domain: c.group.Domain, Project: c.group.Project, Framework: c.group.Framework, FrameworkVersion: c.group.FrameworkVersion,
		App: l.value(0), Service: l.value(1), Version: l.value(2), ServiceID: l.value(3), Environment: l.value(4), Level: l.value(5)}
}

// ServiceCounts returns every counted service (present and not global),
// in no particular order; none while Rules.PerService is off.
func (s *State) ServiceCounts() []ServiceCount {
	if !s.rules.PerService {
		return nil
	}
	out := make([]ServiceCount, 0, len(s.services))
	for _, e := range s.services {
		if e.counted {
			// groups only grows and its elements never change: the
			// pointer stays valid and unchanged after the lock is released.
			out = append(out, ServiceCount{group: &s.groups[e.group], labels: e.labels, Instances: e.instances})
		}
	}
	return out
}

// NewState returns an empty state that counts by rules.
func NewState(layout Layout, rules Rules, onError DecodeErrorFunc) *State {
	if onError == nil {
		onError = func(Kind, []byte, error) {}
	}
	return &State{layout: layout, rules: rules, onError: onError,
		counts: NewCounts(), services: map[serviceKey]serviceEntry{}, names: map[string]string{},
		groupIndex: map[ServiceGroup]uint32{}, seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
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
	case KindSchema:
		return raw.kind, s.applySchema(raw, e)
	}
	return raw.kind, nil
}

// applySchema counts schema summary keys by key alone, as Service Center
// does: a put with a previous value updates a counted key.
func (s *State) applySchema(key rawKey, ev Event) error {
	dp := s.domainProject(key)
	switch {
	case ev.Type == Delete:
		return add(s.counts.Schemas, dp, -1)
	case !ev.HasPrev:
		return add(s.counts.Schemas, dp, 1)
	}
	return nil
}

// domainProject returns the interned domain and project of a key.
func (s *State) domainProject(key rawKey) DomainProject {
	return DomainProject{s.intern(key.parts[0]), s.intern(key.parts[1])}
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

func (s *State) keyOf(key rawKey) serviceKey {
	return serviceKey{maphash.Bytes(s.seeds[0], key.service), maphash.Bytes(s.seeds[1], key.service)}
}

// store keeps e under k, or drops it when nothing refers to it any more.
func (s *State) store(k serviceKey, e *serviceEntry) {
	if !e.stored && e.instances == [numStatuses]int32{} {
		delete(s.services, k)
		return
	}
	s.services[k] = *e
}

// applyService needs no previous value: the entry knows what was counted.
func (s *State) applyService(key rawKey, ev Event) error {
	k := s.keyOf(key)
	e, ok := s.services[k]
	if !ok && ev.Type == Delete {
		return nil // a delete of a service never seen: nothing counted
	}
	defer s.store(k, &e)
	next := serviceEntry{stored: ev.Type == Put} // absent, or present with its labels
	if ev.Type == Put {
		svc, err := DecodeService(ev.Value)
		if err != nil {
			s.onError(KindService, ev.Key, err)
		} else {
			domain, project := s.intern(key.parts[0]), s.intern(key.parts[1])
			next.present = true
			next.counted = !(s.rules.ExcludeGlobal && s.rules.IsGlobal(domain, project, svc))
			next.sc = IsServiceCenter(domain, project, svc)
			next.group = s.groupOf(ServiceGroup{Domain: domain, Project: project,
				Framework: svc.Framework, FrameworkVersion: svc.FrameworkVersion})
			if s.rules.PerService {
				next.labels = packLabels(svc.AppID, svc.ServiceName, svc.Version, key.parts[2], svc.Environment, svc.Level)
			}
		}
	}
	if err := s.countService(&e, -1); err != nil {
		return err
	}
	if e.stored != next.stored {
		// The instances stop or start being orphans.
		n := e.total()
		if next.stored {
			n = -n
		}
		if err := add(s.counts.Orphans, s.domainProject(key), n); err != nil {
			return err
		}
	}
	e.stored, e.present, e.counted, e.sc, e.group, e.labels = next.stored, next.present, next.counted, next.sc, next.group, next.labels
	return s.countService(&e, 1)
}

// total is the number of instances of the entry.
func (e *serviceEntry) total() int64 {
	var n int64
	for _, c := range e.instances {
		n += int64(c)
	}
	return n
}

// groupOf returns the index of g, interning it.
func (s *State) groupOf(g ServiceGroup) uint32 {
	if i, ok := s.groupIndex[g]; ok {
		return i
	}
	i := uint32(len(s.groups))
	s.groups = append(s.groups, g)
	s.groupIndex[g] = i
	return i
}

// countService adds (delta 1) or removes (-1) a counted service and its
// instances, and Service Center's own.
func (s *State) countService(e *serviceEntry, delta int64) error {
	if e.sc {
		s.counts.ServiceCenter.Services += delta
		for i, n := range e.instances {
			s.counts.ServiceCenter.Instances[i] += delta * int64(n)
		}
	}
	if !e.counted {
		return nil
	}
	g := s.groups[e.group]
	if err := add(s.counts.Services, g, delta); err != nil {
		return err
	}
	for i, n := range e.instances {
		if n == 0 {
			continue
		}
		ig := InstanceGroup{Domain: g.Domain, Project: g.Project, Status: InstanceStatuses[i]}
		if err := add(s.counts.Instances, ig, delta*int64(n)); err != nil {
			return err
		}
	}
	return nil
}

func (s *State) applyInstance(key rawKey, ev Event) error {
	if ev.Type == Delete && !ev.HasPrev {
		return fmt.Errorf("%w: delete of %s without its previous value", ErrInconsistent, ev.Key)
	}
	k := s.keyOf(key)
	e := s.services[k]
	defer s.store(k, &e)
	if ev.HasPrev {
		// A previous value that cannot be decoded was never counted.
		if prev, err := DecodeInstance(ev.PrevValue); err == nil {
			if err := s.addInstance(&e, key, prev, -1); err != nil {
				return err
			}
		}
	}
	if ev.Type == Put {
		status, err := DecodeInstance(ev.Value)
		if err != nil {
			s.onError(KindInstance, ev.Key, err)
			return nil
		}
		return s.addInstance(&e, key, status, 1)
	}
	return nil
}

func (s *State) addInstance(e *serviceEntry, key rawKey, status string, delta int64) error {
	i := statusIndex(status)
	n := int64(e.instances[i]) + delta
	if n < 0 || n > math.MaxInt32 {
		return fmt.Errorf("%w: %s instances of %s would be %d", ErrInconsistent, status, key.service, n)
	}
	e.instances[i] = int32(n)
	if !e.stored {
		return add(s.counts.Orphans, s.domainProject(key), delta)
	}
	if e.sc {
		s.counts.ServiceCenter.Instances[i] += delta
	}
	if !e.counted {
		return nil
	}
	g := s.groups[e.group]
	return add(s.counts.Instances, InstanceGroup{Domain: g.Domain, Project: g.Project, Status: status}, delta)
}

// statusIndex returns the index of one of InstanceStatuses.
func statusIndex(status string) int {
	for i, st := range InstanceStatuses {
		if st == status {
			return i
		}
	}
	panic("registry: status not from DecodeInstance: " + status)
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
