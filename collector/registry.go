package collector

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/servicecomb/servicecomb_exporter/config"
	"github.com/servicecomb/servicecomb_exporter/registry"
)

// RegistrySnapshots is what the registry collector reads: source.Manager.
type RegistrySnapshots interface {
	Snapshots() []registry.Snapshot
}

func registryDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "registry", name), help, append([]string{"source"}, labels...), nil)
}

var (
	registryDomainsDesc  = registryDesc("domains", "Domains (tenants) in the registry.")
	registryProjectsDesc = registryDesc("projects", "Projects of a domain.", "domain")
	registryServicesDesc = registryDesc("services",
		"Microservices by domain, project and framework; Service Center's global services are left out unless configured.",
		"domain", "project", "framework", "framework_version")
	registryInstancesDesc = registryDesc("instances", "Microservice instances by domain, project and status.",
		"domain", "project", "status")
	registryUpDesc       = registryDesc("source_up", "Whether the source reached its registry backend at its last attempt.")
	registrySyncsDesc    = registryDesc("syncs_total", "Full reads of the registry, by result.", "result")
	registryLastSyncDesc = registryDesc("last_sync_timestamp_seconds",
		"Unix time of the last complete read of the registry; 0 before the first.")
	registrySyncDurationDesc = registryDesc("sync_duration_seconds", "Duration of the last complete read of the registry.")
	registryWatchEventsDesc  = registryDesc("watch_events_total", "Registry changes applied from the watch, by kind of key and event type.",
		"kind", "type")
	registryDecodeErrorsDesc = registryDesc("decode_errors_total",
		"Registry keys or values skipped because they cannot be counted (malformed JSON, bad key, empty, oversized, invalid UTF-8, unknown status).",
		"kind")
	registryLabelFoldsDesc = registryDesc("label_folds",
		"Label sets folded by the exporter's bounds at this scrape: truncated (a domain, project or framework name over 128 bytes, cut with …), "+
			"other (a framework and version pair beyond the 50 with most services of its project, counted under framework=\"OTHER\").",
		"reason")
)

// RegistryCollector exposes the counts and health of every registry source.
type RegistryCollector struct {
	sources RegistrySnapshots
	quota   atomic.Pointer[config.QuotaConfig]
}

// NewRegistryCollector returns a collector reading sources, with Service
// Center's default quotas.
func NewRegistryCollector(sources RegistrySnapshots) *RegistryCollector {
	c := &RegistryCollector{sources: sources}
	c.quota.Store(&config.QuotaConfig{Services: config.DefaultServiceQuota, Instances: config.DefaultInstanceQuota})
	return c
}

// SetQuota applies registry.quota from the next scrape on.
func (c *RegistryCollector) SetQuota(q config.QuotaConfig) { c.quota.Store(&q) }

func (c *RegistryCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{registryDomainsDesc, registryProjectsDesc, registryServicesDesc, registryInstancesDesc,
		registryUpDesc, registrySyncsDesc, registryLastSyncDesc, registrySyncDurationDesc, registryWatchEventsDesc, registryDecodeErrorsDesc, registryLabelFoldsDesc} {
		ch <- d
	}
	for _, d := range registryHealthDescs {
		ch <- d
	}
}

func (c *RegistryCollector) Collect(ch chan<- prometheus.Metric) {
	quota := *c.quota.Load()
	for _, s := range c.sources.Snapshots() {
		collectSource(ch, s)
		if s.Synced {
			collectRegistryHealth(ch, s, quota) // registryhealth.go
		}
	}
}

func collectSource(ch chan<- prometheus.Metric, s registry.Snapshot) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{s.Source}, labels...)...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{s.Source}, labels...)...)
	}
	up := 0.0
	if s.Up {
		up = 1
	}
	gauge(registryUpDesc, up)
	for result, n := range s.Syncs {
		counter(registrySyncsDesc, n, result)
	}
	lastSync := 0.0
	if !s.LastSync.IsZero() {
		lastSync = float64(s.LastSync.UnixNano()) / 1e9
	}
	gauge(registryLastSyncDesc, lastSync)
	gauge(registrySyncDurationDesc, s.SyncDuration.Seconds())
	for e, n := range s.WatchEvents {
		counter(registryWatchEventsDesc, n, e.Kind, e.Type)
	}
	for kind, n := range s.DecodeErrors {
		counter(registryDecodeErrorsDesc, n, kind)
	}
	if !s.Synced {
		return // no counts until the registry has been read once
	}
	gauge(registryDomainsDesc, float64(len(s.Counts.Domains)))
	b := bound(s.Counts) // see labelcap.go
	for reason, n := range b.folds {
		gauge(registryLabelFoldsDesc, float64(n), reason)
	}
	for domain, n := range b.projects {
		gauge(registryProjectsDesc, float64(n), domain)
	}
	for g, n := range b.services {
		gauge(registryServicesDesc, float64(n), g.Domain, g.Project, g.Framework, g.FrameworkVersion)
	}
	for g, n := range b.instances {
		gauge(registryInstancesDesc, float64(n), g.Domain, g.Project, g.Status)
	}
}
