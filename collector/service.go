package collector

import (
	"cmp"
	"fmt"
	"hash/maphash"
	"regexp"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/servicecomb/servicecomb_exporter/alarm"
	"github.com/servicecomb/servicecomb_exporter/config"
	"github.com/servicecomb/servicecomb_exporter/registry"
)

// The per-service metrics of docs/service-metrics.md: their names and
// labels are the contract of the mixin's rules and dashboards.
var (
	serviceInstancesDesc = prometheus.NewDesc(prometheus.BuildFQName(Namespace, "service", "instances"),
		"Instances of one service by status; the UP series exists for every exposed service, other statuses only while non-zero.",
		[]string{"source", "domain", "project", "environment", "app", "service", "version", "status"}, nil)
	serviceInfoDesc = prometheus.NewDesc(prometheus.BuildFQName(Namespace, "service", "info"),
		"Always 1: the labels of one exposed service, for joins.",
		[]string{"source", "domain", "project", "environment", "app", "service", "version", "service_id", "framework", "framework_version", "level"}, nil)
	serviceSeriesDroppedDesc = prometheus.NewDesc(prometheus.BuildFQName(Namespace, "service", "series_dropped"),
		"Services left out of the per-service metrics because registry.per_service.max_services was reached; 0 otherwise.",
		[]string{"source"}, nil)
)

// ServiceFilter is registry.per_service compiled: which services have
// per-service series. It is applied at scrape time, so a reload changes it
// without restarting any source.
type ServiceFilter struct {
	enabled          bool
	max              int
	include, exclude [4][]*regexp.Regexp // domain, project, app, service
}

// DefaultServiceFilter is the filter of the default configuration.
func DefaultServiceFilter() *ServiceFilter {
	return &ServiceFilter{enabled: true, max: config.DefaultMaxServices}
}

// NewServiceFilter compiles c; the config package has validated it.
func NewServiceFilter(c config.PerServiceConfig) (*ServiceFilter, error) {
	f := &ServiceFilter{enabled: c.Enabled, max: c.MaxServices}
	compile := func(ms config.ServiceMatchers, into *[4][]*regexp.Regexp) error {
		for i, exprs := range [4][]string{ms.Domain, ms.Project, ms.App, ms.Service} {
			for _, expr := range exprs {
				re, err := regexp.Compile("^(?:" + expr + ")$")
				if err != nil {
					return fmt.Errorf("registry.per_service: %w", err)
				}
				into[i] = append(into[i], re)
			}
		}
		return nil
	}
	if err := compile(c.Include, &f.include); err != nil {
		return nil, err
	}
	if err := compile(c.Exclude, &f.exclude); err != nil {
		return nil, err
	}
	return f, nil
}

// keeps reports whether info passes the include and exclude lists.
func (f *ServiceFilter) keeps(info *registry.ServiceInfo) bool {
	values := [4]string{info.Domain, info.Project, info.App, info.Service}
	for i, v := range values {
		if len(f.include[i]) > 0 && !matchesAny(f.include[i], v) {
			return false
		}
		if matchesAny(f.exclude[i], v) {
			return false
		}
	}
	return true
}

func matchesAny(res []*regexp.Regexp, v string) bool {
	for _, re := range res {
		if re.MatchString(v) {
			return true
		}
	}
	return false
}

// AlarmRaiser is what the service collector tells about dropped series:
// alarm.Center.
type AlarmRaiser interface {
	RaiseFrom(source string, id alarm.ID, fields ...alarm.Field) error
	ClearFrom(source string, id alarm.ID)
}

// serviceDrops raises ServiceSeriesDropped when a source starts dropping
// services and clears it when it stops: one transition, so one log line
// (the alarm log), per episode rather than per scrape.
type serviceDrops struct {
	alarms   AlarmRaiser
	mu       sync.Mutex
	dropping map[string]bool // by source
}

func (d *serviceDrops) observe(source string, dropped, limit int) {
	if d.alarms == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch was := d.dropping[source]; {
	case dropped > 0 && !was:
		d.dropping[source] = true
		_ = d.alarms.RaiseFrom(source, alarm.ServiceSeriesDropped,
			alarm.Detail("%d services have no per-service series: registry.per_service.max_services is %d", dropped, limit))
	case dropped == 0 && was:
		delete(d.dropping, source)
		d.alarms.ClearFrom(source, alarm.ServiceSeriesDropped)
	}
}

// serviceSeries is one service's label pairs, built at the first scrape
// that exposes it and kept while its labels (the State's *ServiceInfo,
// replaced on every change) stay the same: rebuilding them at every scrape
// allocated six times what GaugeVecs holding the same series do
// (docs/benchmarks.md).
type serviceSeries struct {
	key       registry.ServiceInfo // after the label bounds
	info      prometheus.Metric
	instances [registry.NumStatuses][]*dto.LabelPair // built when first needed
}

// pairsGauge is a gauge whose label pairs are shared between scrapes.
type pairsGauge struct {
	desc  *prometheus.Desc
	pairs []*dto.LabelPair
	value float64
}

func (g *pairsGauge) Desc() *prometheus.Desc { return g.desc }

func (g *pairsGauge) Write(out *dto.Metric) error {
	out.Label = g.pairs
	out.Gauge = &dto.Gauge{Value: &g.value}
	return nil
}

// serviceCache holds the serviceSeries of the services of the last scrape,
// per source.
type serviceCache struct {
	mu       sync.Mutex
	seed     maphash.Seed
	bySource map[string]map[*registry.ServiceInfo]*serviceSeries
}

func newServiceSeries(source string, info *registry.ServiceInfo) *serviceSeries {
	k := *info
	for _, p := range []*string{&k.Domain, &k.Project, &k.Environment, &k.App, &k.Service, &k.Version,
		&k.ServiceID, &k.Framework, &k.FrameworkVersion, &k.Level} {
		*p, _ = truncateLabel(*p)
	}
	return &serviceSeries{key: k, info: prometheus.MustNewConstMetric(serviceInfoDesc, prometheus.GaugeValue, 1,
		source, k.Domain, k.Project, k.Environment, k.App, k.Service, k.Version, k.ServiceID, k.Framework, k.FrameworkVersion, k.Level)}
}

func (s *serviceSeries) instancePairs(source string, status int) []*dto.LabelPair {
	if s.instances[status] == nil {
		k := s.key
		s.instances[status] = prometheus.MakeLabelPairs(serviceInstancesDesc,
			[]string{source, k.Domain, k.Project, k.Environment, k.App, k.Service, k.Version, registry.InstanceStatuses[status]})
	}
	return s.instances[status]
}

// collectServices emits the per-service series of one synced snapshot.
func collectServices(ch chan<- prometheus.Metric, s registry.Snapshot, f *ServiceFilter, drops *serviceDrops, cache *serviceCache) {
	kept := make([]registry.ServiceCount, 0, len(s.Services))
	if f.enabled {
		for _, c := range s.Services {
			if f.keeps(c.Info) {
				kept = append(kept, c)
			}
		}
	}
	dropped := 0
	if len(kept) > f.max {
		// Keep the first in the order of their labels, so that the same
		// services keep their series from one scrape to the next.
		slices.SortFunc(kept, func(x, y registry.ServiceCount) int { return compareInfo(x.Info, y.Info) })
		dropped = len(kept) - f.max
		kept = kept[:f.max]
	}
	ch <- prometheus.MustNewConstMetric(serviceSeriesDroppedDesc, prometheus.GaugeValue, float64(dropped), s.Source)
	drops.observe(s.Source, dropped, f.max)

	cache.mu.Lock()
	defer cache.mu.Unlock()
	prev := cache.bySource[s.Source]
	next := make(map[*registry.ServiceInfo]*serviceSeries, len(kept))
	// Label values are cut by the label bounds; services whose labels
	// become equal are added up (instances) or emitted once (info), so that
	// no series is emitted twice.
	// Keyed by a hash of the bounded labels, with an exact comparison on a
	// hash match: a map keyed by the labels themselves cost as much again.
	type instanceSum struct {
		series *serviceSeries
		status int
		n      int64
		next   *instanceSum // same hash
	}
	type instanceKey struct {
		domain, project, env, app, service, version string
		status                                      int
	}
	seed := cache.seed
	keyOf := func(ss *serviceSeries, st int) instanceKey {
		k := ss.key
		return instanceKey{k.Domain, k.Project, k.Environment, k.App, k.Service, k.Version, st}
	}
	instances := make(map[uint64]*instanceSum, len(kept))
	var order []*instanceSum
	infos := make(map[uint64][]*serviceSeries, len(kept))
	for _, c := range kept {
		ss := prev[c.Info]
		if ss == nil {
			ss = newServiceSeries(s.Source, c.Info)
		}
		next[c.Info] = ss
		h := maphash.Comparable(seed, ss.key)
		if !slices.ContainsFunc(infos[h], func(o *serviceSeries) bool { return o.key == ss.key }) {
			infos[h] = append(infos[h], ss)
		}
		for st, n := range c.Instances {
			if n == 0 && st != 0 { // InstanceStatuses[0] is UP: always there
				continue
			}
			ik := keyOf(ss, st)
			h := maphash.Comparable(seed, ik)
			sum := instances[h]
			for sum != nil && keyOf(sum.series, sum.status) != ik {
				sum = sum.next
			}
			if sum != nil {
				sum.n += int64(n)
				continue
			}
			sum = &instanceSum{series: ss, status: st, n: int64(n), next: instances[h]}
			instances[h] = sum
			order = append(order, sum)
		}
	}
	if cache.bySource == nil {
		cache.bySource = map[string]map[*registry.ServiceInfo]*serviceSeries{}
	}
	cache.bySource[s.Source] = next
	for _, sum := range order {
		ch <- &pairsGauge{desc: serviceInstancesDesc, pairs: sum.series.instancePairs(s.Source, sum.status), value: float64(sum.n)}
	}
	for _, list := range infos {
		for _, ss := range list {
			ch <- ss.info
		}
	}
}

func compareInfo(x, y *registry.ServiceInfo) int {
	return cmp.Or(cmp.Compare(x.Domain, y.Domain), cmp.Compare(x.Project, y.Project), cmp.Compare(x.App, y.App),
		cmp.Compare(x.Service, y.Service), cmp.Compare(x.Version, y.Version), cmp.Compare(x.Environment, y.Environment),
		cmp.Compare(x.ServiceID, y.ServiceID))
}
