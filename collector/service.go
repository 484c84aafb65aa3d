package collector

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

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

// collectServices emits the per-service series of one synced snapshot.
func collectServices(ch chan<- prometheus.Metric, s registry.Snapshot, f *ServiceFilter, drops *serviceDrops) {
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

	// Label values are cut by the label bounds; services whose labels
	// become equal are added up (instances) or emitted once (info), so that
	// no series is emitted twice.
	type instanceKey struct {
		domain, project, env, app, service, version string
		status                                      int
	}
	instances := map[instanceKey]int64{}
	infos := map[registry.ServiceInfo]struct{}{}
	for _, c := range kept {
		i := *c.Info
		for _, p := range []*string{&i.Domain, &i.Project, &i.Environment, &i.App, &i.Service, &i.Version,
			&i.ServiceID, &i.Framework, &i.FrameworkVersion, &i.Level} {
			*p, _ = truncateLabel(*p)
		}
		infos[i] = struct{}{}
		for st, n := range c.Instances {
			if n != 0 || st == 0 { // InstanceStatuses[0] is UP: always there
				instances[instanceKey{i.Domain, i.Project, i.Environment, i.App, i.Service, i.Version, st}] += int64(n)
			}
		}
	}
	for k, n := range instances {
		ch <- prometheus.MustNewConstMetric(serviceInstancesDesc, prometheus.GaugeValue, float64(n),
			s.Source, k.domain, k.project, k.env, k.app, k.service, k.version, registry.InstanceStatuses[k.status])
	}
	for i := range infos {
		ch <- prometheus.MustNewConstMetric(serviceInfoDesc, prometheus.GaugeValue, 1,
			s.Source, i.Domain, i.Project, i.Environment, i.App, i.Service, i.Version, i.ServiceID, i.Framework, i.FrameworkVersion, i.Level)
	}
}

func compareInfo(x, y *registry.ServiceInfo) int {
	return cmp.Or(cmp.Compare(x.Domain, y.Domain), cmp.Compare(x.Project, y.Project), cmp.Compare(x.App, y.App),
		cmp.Compare(x.Service, y.Service), cmp.Compare(x.Version, y.Version), cmp.Compare(x.Environment, y.Environment),
		cmp.Compare(x.ServiceID, y.ServiceID))
}
