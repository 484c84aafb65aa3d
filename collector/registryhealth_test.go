package collector

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/servicecomb/servicecomb_exporter/config"
	"github.com/servicecomb/servicecomb_exporter/registry"
)

var registryHealthNames = []string{
	"servicecomb_registry_instance_registrations_total", "servicecomb_registry_instance_deregistrations_total",
	"servicecomb_registry_orphan_instances", "servicecomb_registry_schemas", "servicecomb_registry_service_usage_ratio",
	"servicecomb_registry_instance_usage_ratio", "servicecomb_service_center_instances",
}

const registryHealthHelp = `
# HELP servicecomb_registry_instance_deregistrations_total Instances that disappeared since the source started, lease expiry included; a list or relist adds nothing.
# TYPE servicecomb_registry_instance_deregistrations_total counter
# HELP servicecomb_registry_instance_registrations_total Instances that appeared since the source started (from the etcd watch, or between two REST polls); a list or relist adds nothing.
# TYPE servicecomb_registry_instance_registrations_total counter
# HELP servicecomb_registry_instance_usage_ratio servicecomb_registry_instances (every status) of the domain and project divided by registry.quota.instances (Service Center's instance quota).
# TYPE servicecomb_registry_instance_usage_ratio gauge
# HELP servicecomb_registry_orphan_instances Instances whose service document does not exist; left out of servicecomb_registry_instances, as Service Center leaves them out of its gauges.
# TYPE servicecomb_registry_orphan_instances gauge
# HELP servicecomb_registry_schemas Schema summaries (keys under ms/schema-sum/), what Service Center's service_center_db_schema_total counts.
# TYPE servicecomb_registry_schemas gauge
# HELP servicecomb_registry_service_usage_ratio servicecomb_registry_services of the domain and project divided by registry.quota.services (Service Center's service quota).
# TYPE servicecomb_registry_service_usage_ratio gauge
# HELP servicecomb_service_center_instances Instances of Service Center's own service SERVICECENTER by status: its replicas as the registry sees them. UP exists (0 or more) while the service does.
# TYPE servicecomb_service_center_instances gauge
`

func TestRegistryHealthCollector(t *testing.T) {
	dp := func(d, p string) registry.DomainProject { return registry.DomainProject{Domain: d, Project: p} }
	long := strings.Repeat("d", 200)
	tests := []struct {
		name  string
		snap  func() registry.Snapshot
		quota *config.QuotaConfig // nil: the default
		want  string
	}{
		{
			name: "every project has each series, 0 when nothing to count; Service Center's UP at 0",
			snap: func() registry.Snapshot {
				c := registry.NewCounts()
				c.Projects[dp("a", "p")] = struct{}{}
				c.Projects[dp("b", "q")] = struct{}{}
				c.Projects[dp("c", "r")] = struct{}{} // nothing in it
				c.Services[registry.ServiceGroup{Domain: "a", Project: "p", Framework: "x", FrameworkVersion: "1"}] = 300
				c.Services[registry.ServiceGroup{Domain: "a", Project: "p", Framework: "y", FrameworkVersion: "1"}] = 200
				c.Instances[registry.InstanceGroup{Domain: "a", Project: "p", Status: "UP"}] = 1000
				c.Instances[registry.InstanceGroup{Domain: "a", Project: "p", Status: "DOWN"}] = 500
				c.Orphans[dp("b", "q")] = 2
				c.Schemas[dp("a", "p")] = 7
				c.ServiceCenter = registry.ServiceCenterCounts{Services: 1, Instances: [registry.NumStatuses]int64{0, 2}}
				return registry.Snapshot{Source: "main", Synced: true, Counts: c, Churn: registry.Churn{
					Registrations:   map[registry.DomainProject]uint64{dp("a", "p"): 4},
					Deregistrations: map[registry.DomainProject]uint64{dp("a", "p"): 1, dp("gone", "x"): 3}}}
			},
			want: `
servicecomb_registry_instance_deregistrations_total{domain="a",project="p",source="main"} 1
servicecomb_registry_instance_deregistrations_total{domain="b",project="q",source="main"} 0
servicecomb_registry_instance_deregistrations_total{domain="c",project="r",source="main"} 0
servicecomb_registry_instance_deregistrations_total{domain="gone",project="x",source="main"} 3
servicecomb_registry_instance_registrations_total{domain="a",project="p",source="main"} 4
servicecomb_registry_instance_registrations_total{domain="b",project="q",source="main"} 0
servicecomb_registry_instance_registrations_total{domain="c",project="r",source="main"} 0
servicecomb_registry_instance_registrations_total{domain="gone",project="x",source="main"} 0
servicecomb_registry_instance_usage_ratio{domain="a",project="p",source="main"} 0.01
servicecomb_registry_instance_usage_ratio{domain="b",project="q",source="main"} 0
servicecomb_registry_instance_usage_ratio{domain="c",project="r",source="main"} 0
servicecomb_registry_instance_usage_ratio{domain="gone",project="x",source="main"} 0
servicecomb_registry_orphan_instances{domain="a",project="p",source="main"} 0
servicecomb_registry_orphan_instances{domain="b",project="q",source="main"} 2
servicecomb_registry_orphan_instances{domain="c",project="r",source="main"} 0
servicecomb_registry_orphan_instances{domain="gone",project="x",source="main"} 0
servicecomb_registry_schemas{domain="a",project="p",source="main"} 7
servicecomb_registry_schemas{domain="b",project="q",source="main"} 0
servicecomb_registry_schemas{domain="c",project="r",source="main"} 0
servicecomb_registry_schemas{domain="gone",project="x",source="main"} 0
servicecomb_registry_service_usage_ratio{domain="a",project="p",source="main"} 0.01
servicecomb_registry_service_usage_ratio{domain="b",project="q",source="main"} 0
servicecomb_registry_service_usage_ratio{domain="c",project="r",source="main"} 0
servicecomb_registry_service_usage_ratio{domain="gone",project="x",source="main"} 0
servicecomb_service_center_instances{source="main",status="DOWN"} 2
servicecomb_service_center_instances{source="main",status="UP"} 0
`,
		},
		{
			name:  "configured limits",
			quota: &config.QuotaConfig{Services: 10, Instances: 4},
			snap: func() registry.Snapshot {
				c := registry.NewCounts()
				c.Projects[dp("a", "p")] = struct{}{}
				c.Services[registry.ServiceGroup{Domain: "a", Project: "p", Framework: "x", FrameworkVersion: "1"}] = 9
				c.Instances[registry.InstanceGroup{Domain: "a", Project: "p", Status: "UP"}] = 3
				c.Instances[registry.InstanceGroup{Domain: "a", Project: "p", Status: "TESTING"}] = 2
				return registry.Snapshot{Source: "s", Synced: true, Counts: c}
			},
			want: `
servicecomb_registry_instance_deregistrations_total{domain="a",project="p",source="s"} 0
servicecomb_registry_instance_registrations_total{domain="a",project="p",source="s"} 0
servicecomb_registry_instance_usage_ratio{domain="a",project="p",source="s"} 1.25
servicecomb_registry_orphan_instances{domain="a",project="p",source="s"} 0
servicecomb_registry_schemas{domain="a",project="p",source="s"} 0
servicecomb_registry_service_usage_ratio{domain="a",project="p",source="s"} 0.9
`,
		},
		{
			name: "no Service Center service: no series; long names cut and added up",
			snap: func() registry.Snapshot {
				c := registry.NewCounts()
				c.Projects[dp(long+"1", "p")] = struct{}{}
				c.Projects[dp(long+"2", "p")] = struct{}{}
				c.Orphans[dp(long+"1", "p")] = 1
				c.Orphans[dp(long+"2", "p")] = 2
				return registry.Snapshot{Source: "s", Synced: true, Counts: c}
			},
			want: strings.ReplaceAll(`
servicecomb_registry_instance_deregistrations_total{domain="LONG",project="p",source="s"} 0
servicecomb_registry_instance_registrations_total{domain="LONG",project="p",source="s"} 0
servicecomb_registry_instance_usage_ratio{domain="LONG",project="p",source="s"} 0
servicecomb_registry_orphan_instances{domain="LONG",project="p",source="s"} 3
servicecomb_registry_schemas{domain="LONG",project="p",source="s"} 0
servicecomb_registry_service_usage_ratio{domain="LONG",project="p",source="s"} 0
`, "LONG", strings.Repeat("d", MaxLabelValueLength-len(truncationMarker))+truncationMarker),
		},
		{
			name: "not synced: nothing",
			snap: func() registry.Snapshot {
				return registry.Snapshot{Source: "s", Counts: registry.NewCounts(), Churn: registry.Churn{
					Registrations: map[registry.DomainProject]uint64{dp("a", "p"): 1}}}
			},
			want: ``,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewRegistryCollector(fakeSnapshots{tt.snap()})
			if tt.quota != nil {
				c.SetQuota(*tt.quota)
			}
			want := tt.want
			if want != "" {
				want = registryHealthHelp + want
			}
			if err := testutil.CollectAndCompare(c, strings.NewReader(want), registryHealthNames...); err != nil {
				t.Error(err)
			}
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(c)
			if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
				t.Errorf("lint: %v %v", err, problems)
			}
		})
	}
}
