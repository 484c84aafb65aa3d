package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/servicecomb/servicecomb_exporter/config"
	"github.com/servicecomb/servicecomb_exporter/registry"
)

// The per-(domain, project) health metrics of issue #11
// (docs/service-metrics.md): churn, orphans, schemas, quota usage, and
// Service Center's own replicas. They are part of RegistryCollector, which
// reads each source's snapshot once per scrape.
var (
	registryRegistrationsDesc = registryDesc("instance_registrations_total",
		"Instances that appeared since the source started (from the etcd watch, or between two REST polls); a list or relist adds nothing.",
		"domain", "project")
	registryDeregistrationsDesc = registryDesc("instance_deregistrations_total",
		"Instances that disappeared since the source started, lease expiry included; a list or relist adds nothing.",
		"domain", "project")
	registryOrphansDesc = registryDesc("orphan_instances",
		"Instances whose service document does not exist; left out of servicecomb_registry_instances, as Service Center leaves them out of its gauges.",
		"domain", "project")
	registrySchemasDesc = registryDesc("schemas",
		"Schema summaries (keys under ms/schema-sum/), what Service Center's service_center_db_schema_total counts.",
		"domain", "project")
	registryServiceUsageDesc = registryDesc("service_usage_ratio",
		"servicecomb_registry_services of the domain and project divided by registry.quota.services (Service Center's service quota).",
		"domain", "project")
	registryInstanceUsageDesc = registryDesc("instance_usage_ratio",
		"servicecomb_registry_instances (every status) of the domain and project divided by registry.quota.instances (Service Center's instance quota).",
		"domain", "project")
	serviceCenterInstancesDesc = prometheus.NewDesc(prometheus.BuildFQName(Namespace, "service_center", "instances"),
		"Instances of Service Center's own service SERVICECENTER by status: its replicas as the registry sees them. UP exists (0 or more) while the service does.",
		[]string{"source", "status"}, nil)
)

var registryHealthDescs = []*prometheus.Desc{registryRegistrationsDesc, registryDeregistrationsDesc, registryOrphansDesc,
	registrySchemasDesc, registryServiceUsageDesc, registryInstanceUsageDesc, serviceCenterInstancesDesc}

// projectFigures are one domain and project's figures, its labels bounded
// as the other per-project gauges' are (truncated names added up).
type projectFigures struct {
	registrations, deregistrations uint64
	orphans, schemas               int64
	services, instances            int64
}

// collectRegistryHealth sends the metrics above for a synced snapshot.
// Every project the registry lists has each per-project series, 0 when
// there is nothing to count, so that a first registration is a change of a
// counter Prometheus already has.
func collectRegistryHealth(ch chan<- prometheus.Metric, s registry.Snapshot, quota config.QuotaConfig) {
	byProject := map[registry.DomainProject]*projectFigures{}
	at := func(dp registry.DomainProject) *projectFigures {
		dp = registry.DomainProject{Domain: boundLabel(dp.Domain), Project: boundLabel(dp.Project)}
		f := byProject[dp]
		if f == nil {
			f = &projectFigures{}
			byProject[dp] = f
		}
		return f
	}
	c := s.Counts
	for dp := range c.Projects {
		at(dp)
	}
	for dp, n := range s.Churn.Registrations {
		at(dp).registrations += n
	}
	for dp, n := range s.Churn.Deregistrations {
		at(dp).deregistrations += n
	}
	for dp, n := range c.Orphans {
		at(dp).orphans += n
	}
	for dp, n := range c.Schemas {
		at(dp).schemas += n
	}
	for g, n := range c.Services {
		at(registry.DomainProject{Domain: g.Domain, Project: g.Project}).services += n
	}
	for g, n := range c.Instances {
		at(registry.DomainProject{Domain: g.Domain, Project: g.Project}).instances += n
	}
	for dp, f := range byProject {
		labels := []string{s.Source, dp.Domain, dp.Project}
		ch <- prometheus.MustNewConstMetric(registryRegistrationsDesc, prometheus.CounterValue, float64(f.registrations), labels...)
		ch <- prometheus.MustNewConstMetric(registryDeregistrationsDesc, prometheus.CounterValue, float64(f.deregistrations), labels...)
		ch <- prometheus.MustNewConstMetric(registryOrphansDesc, prometheus.GaugeValue, float64(f.orphans), labels...)
		ch <- prometheus.MustNewConstMetric(registrySchemasDesc, prometheus.GaugeValue, float64(f.schemas), labels...)
		ch <- prometheus.MustNewConstMetric(registryServiceUsageDesc, prometheus.GaugeValue, ratio(f.services, quota.Services), labels...)
		ch <- prometheus.MustNewConstMetric(registryInstanceUsageDesc, prometheus.GaugeValue, ratio(f.instances, quota.Instances), labels...)
	}
	if sc := c.ServiceCenter; sc.Services > 0 {
		for i, n := range sc.Instances {
			if status := registry.InstanceStatuses[i]; n > 0 || status == "UP" {
				ch <- prometheus.MustNewConstMetric(serviceCenterInstancesDesc, prometheus.GaugeValue, float64(n), s.Source, status)
			}
		}
	}
}

// boundLabel is truncateLabel without the flag: the folds are counted once,
// by bound, for the same names.
func boundLabel(v string) string {
	out, _ := truncateLabel(v)
	return out
}

// ratio is n / limit; the configuration keeps limit above 0.
//
// Per domain and project on purpose: Service Center checks its quotas
// against the caller's domain and project (quota.Apply in its
// server/plugin/quota/quota.go, through disco.ServiceUsage), while its
// service_center_db_service_usage and …_instance_usage gauges divide the
// total of every domain by the same limit (ServiceUsageSet and
// InstanceUsageSet in server/metrics/meta_reporter.go). The per-project ratio
// is the one that says a registration is about to be refused; summed by
// source it is Service Center's gauge.
func ratio(n, limit int64) float64 {
	if limit <= 0 {
		return 0
	}
	return float64(n) / float64(limit)
}
