package simulator

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// view is the simulator's memory of what it has written: what exists in
// etcd as far as it knows, so that every churn event is valid (it changes an
// instance that exists, attaches to a lease that is alive...). Slices give
// O(1) uniform random picks; each element remembers its index in them for
// O(1) swap-removal.
type view struct {
	layout      Layout
	seed        int64
	healthCheck HealthCheck
	frameworks  []FrameworkShare

	domains  []string
	projects []*project
	// services and instances are the ones churn may touch: all but Service
	// Center's own.
	services  []*service
	instances []*instance
	global    *service
	// pinned is the service of a scripted outage (Config.ServiceOutage):
	// like global, churn does not touch it or its instances.
	pinned *service
	// leases are the granted leases that still have instances.
	leases map[clientv3.LeaseID]*lease
	// open is the shared lease new instances attach to while it has room
	// (InstancesPerLease > 1).
	open *lease

	// Serials of the next service and instance ids.
	nextService, nextInstance uint64
}

type project struct {
	domain, name string
	// nextOrdinal numbers the project's services, for unique names.
	nextOrdinal int
}

type service struct {
	id                               string
	project                          *project
	appID, name, version, env, level string
	framework                        *Framework
	created                          int64
	instances                        []*instance
	// nextHost numbers the service's instances, for host names.
	nextHost int
	global   bool
	// out: taken down by a scripted outage (pinned services only).
	out bool
	pos int // index in view.services (-1: global or pinned)
}

type instance struct {
	id                string
	svc               *service
	lease             *lease
	status            string
	serial            uint64
	host              int
	created, modified int64
	pos               int // index in view.instances (-1: global, pinned or forgotten)
	svcPos, leasePos  int // -1 (svcPos): forgotten
}

type lease struct {
	id      clientv3.LeaseID
	members []*instance
	// gone: revoked, expired or dropped; nothing may attach to it again.
	gone bool
}

// pickWeighted returns an index of weights with probability proportional to
// its weight; weights must not all be 0.
func pickWeighted(rng *rand.Rand, weights []int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	r := rng.IntN(total)
	for i, w := range weights {
		if r < w {
			return i
		}
		r -= w
	}
	return len(weights) - 1
}

// newService makes (but does not add) a service of p with random attributes.
func (v *view) newService(rng *rand.Rand, p *project, now int64) *service {
	apps := [...]string{"demo-app", "mall-app", "pay-app"}
	envs := [...]string{"", "production", "development", "testing"}
	versions := [...]string{"1.0.0", "1.1.0", "2.0.0"}
	levels := [...]string{"BACK", "MIDDLE", "FRONT"}
	s := &service{
		id:      serviceID(v.seed, idService, v.nextService),
		project: p,
		appID:   apps[rng.IntN(len(apps))],
		name:    serviceName(p.nextOrdinal),
		version: versions[pickWeighted(rng, []int{70, 20, 10})],
		env:     envs[pickWeighted(rng, []int{60, 20, 10, 10})],
		level:   levels[pickWeighted(rng, []int{70, 20, 10})],
		created: now,
	}
	weights := make([]int, len(v.frameworks))
	for i, f := range v.frameworks {
		weights[i] = f.Weight
	}
	if f := v.frameworks[pickWeighted(rng, weights)]; f.Name != "" {
		s.framework = &Framework{Name: f.Name, Version: f.Version}
	}
	v.nextService++
	p.nextOrdinal++
	return s
}

// newInstance makes (but does not add) an instance of s.
func (v *view) newInstance(s *service, l *lease, status string, now int64) *instance {
	i := &instance{
		id:       instanceID(v.seed, v.nextInstance),
		svc:      s,
		lease:    l,
		status:   status,
		serial:   v.nextInstance,
		host:     s.nextHost,
		created:  now,
		modified: now,
		pos:      -1,
	}
	v.nextInstance++
	s.nextHost++
	return i
}

// loadStatus is the status of an instance at load: mostly UP.
func loadStatus(rng *rand.Rand) string {
	statuses := InstanceStatuses()
	return statuses[pickWeighted(rng, []int{85, 5, 4, 3, 3})]
}

func (v *view) addService(s *service) {
	if s.global {
		v.global = s
		return
	}
	s.pos = len(v.services)
	v.services = append(v.services, s)
}

// removeService forgets s and its instances; it returns the leases left
// without instances.
func (v *view) removeService(s *service) []*lease {
	var empty []*lease
	for len(s.instances) > 0 {
		if l := v.removeInstance(s.instances[len(s.instances)-1]); l != nil {
			empty = append(empty, l)
		}
	}
	last := v.services[len(v.services)-1]
	v.services[s.pos] = last
	last.pos = s.pos
	v.services = v.services[:len(v.services)-1]
	s.pos = -1
	return empty
}

func (v *view) addInstance(i *instance) {
	s := i.svc
	i.svcPos = len(s.instances)
	s.instances = append(s.instances, i)
	i.leasePos = len(i.lease.members)
	i.lease.members = append(i.lease.members, i)
	if !s.global && s != v.pinned {
		i.pos = len(v.instances)
		v.instances = append(v.instances, i)
	}
}

// removeInstance forgets i; it returns i's lease if i was its last
// instance, after forgetting the lease too.
func (v *view) removeInstance(i *instance) *lease {
	s := i.svc
	last := s.instances[len(s.instances)-1]
	s.instances[i.svcPos] = last
	last.svcPos = i.svcPos
	s.instances = s.instances[:len(s.instances)-1]
	i.svcPos = -1

	l := i.lease
	lastm := l.members[len(l.members)-1]
	l.members[i.leasePos] = lastm
	lastm.leasePos = i.leasePos
	l.members = l.members[:len(l.members)-1]

	if i.pos >= 0 {
		lasti := v.instances[len(v.instances)-1]
		v.instances[i.pos] = lasti
		lasti.pos = i.pos
		v.instances = v.instances[:len(v.instances)-1]
		i.pos = -1
	}
	if len(l.members) > 0 {
		return nil
	}
	v.dropLease(l)
	return l
}

// pin takes s and its instances out of churn's reach (out of services and
// instances), keeping them in the registry.
func (v *view) pin(s *service) {
	last := v.services[len(v.services)-1]
	v.services[s.pos] = last
	last.pos = s.pos
	v.services = v.services[:len(v.services)-1]
	s.pos = -1
	for _, i := range s.instances {
		lasti := v.instances[len(v.instances)-1]
		v.instances[i.pos] = lasti
		lasti.pos = i.pos
		v.instances = v.instances[:len(v.instances)-1]
		i.pos = -1
	}
	v.pinned = s
}

// dropLease forgets l: it is no longer kept alive or attached to.
func (v *view) dropLease(l *lease) {
	l.gone = true
	if v.leases[l.id] == l {
		delete(v.leases, l.id)
	}
	if v.open == l {
		v.open = nil
	}
}

// serviceJSON is the value of s's ms/files key.
func (v *view) serviceJSON(s *service) ([]byte, error) {
	ts := strconv.FormatInt(s.created, 10)
	ms := MicroService{
		ServiceID:    s.id,
		AppID:        s.appID,
		ServiceName:  s.name,
		Version:      s.version,
		Level:        s.level,
		Status:       StatusUp,
		Environment:  s.env,
		Timestamp:    ts,
		ModTimestamp: ts,
		Framework:    s.framework,
	}
	if s.global {
		ms.Schemas = []string{"servicecenter.grpc.api.ServiceCtrl", "servicecenter.grpc.api.ServiceInstanceCtrl"}
		ms.Properties = map[string]string{"allowCrossApp": "true"}
	}
	return json.Marshal(ms)
}

// instanceJSON is the value of i's inst/files key.
func (v *view) instanceJSON(i *instance) ([]byte, error) {
	hc := v.healthCheck
	inst := Instance{
		InstanceID:   i.id,
		ServiceID:    i.svc.id,
		Endpoints:    []string{endpoint(i.serial)},
		HostName:     i.svc.name + "-host-" + strconv.Itoa(i.host),
		Status:       i.status,
		HealthCheck:  &hc,
		Timestamp:    strconv.FormatInt(i.created, 10),
		ModTimestamp: strconv.FormatInt(i.modified, 10),
		Version:      i.svc.version,
	}
	if i.svc.global {
		inst.Endpoints = []string{"rest://127.0.0.1:" + strconv.Itoa(globalPort) + "/"}
		inst.HostName = "service-center"
	}
	return json.Marshal(inst)
}

func (v *view) serviceKey(s *service) string {
	return v.layout.ServiceKey(s.project.domain, s.project.name, s.id)
}

func (v *view) indexKey(s *service) string {
	return v.layout.ServiceIndexKey(s.project.domain, s.project.name, s.env, s.appID, s.name, s.version)
}

func (v *view) instanceKey(i *instance) string {
	p := i.svc.project
	return v.layout.InstanceKey(p.domain, p.name, i.svc.id, i.id)
}

func (v *view) instanceLeaseKey(i *instance) string {
	p := i.svc.project
	return v.layout.InstanceLeaseKey(p.domain, p.name, i.svc.id, i.id)
}

// Stats counts a registry: what Load wrote, or what the simulator believes
// exists now.
type Stats struct {
	Domains   int
	Projects  int
	Services  int // including Service Center's own
	Instances int // including Service Center's own
	Leases    int
	// Keys is the number of registry keys: domains, projects, two per
	// service (file and index) and two per instance (file and lease).
	Keys int
	// ByProject has an entry for every project, keyed "domain/project".
	ByProject map[string]ProjectStats
}

// ProjectStats counts one project.
type ProjectStats struct {
	Domain, Project string
	Services        int
	Instances       int
	// GlobalServices and GlobalInstances are Service Center's own, included
	// in Services and Instances (only in default/default).
	GlobalServices, GlobalInstances int
	// InstancesByStatus has an entry for every status that occurs.
	InstancesByStatus map[string]int
	// ServicesByFramework is keyed by framework name, "" for services
	// without a framework.
	ServicesByFramework map[string]int
}

func (v *view) stats() Stats {
	st := Stats{
		Domains:   len(v.domains),
		Projects:  len(v.projects),
		Leases:    len(v.leases),
		ByProject: make(map[string]ProjectStats, len(v.projects)),
	}
	for _, p := range v.projects {
		st.ByProject[p.domain+"/"+p.name] = ProjectStats{
			Domain:              p.domain,
			Project:             p.name,
			InstancesByStatus:   map[string]int{},
			ServicesByFramework: map[string]int{},
		}
	}
	count := func(s *service) {
		key := s.project.domain + "/" + s.project.name
		ps := st.ByProject[key]
		ps.Services++
		ps.Instances += len(s.instances)
		if s.global {
			ps.GlobalServices++
			ps.GlobalInstances += len(s.instances)
		}
		fw := ""
		if s.framework != nil {
			fw = s.framework.Name
		}
		ps.ServicesByFramework[fw]++
		for _, i := range s.instances {
			ps.InstancesByStatus[i.status]++
		}
		st.ByProject[key] = ps
		st.Services++
		st.Instances += len(s.instances)
	}
	if v.global != nil {
		count(v.global)
	}
	if v.pinned != nil {
		count(v.pinned)
	}
	for _, s := range v.services {
		count(s)
	}
	st.Keys = st.Domains + st.Projects + 2*st.Services + 2*st.Instances
	return st
}
