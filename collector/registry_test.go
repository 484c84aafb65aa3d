package collector

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/servicecomb/servicecomb_exporter/registry"
)

type fakeSnapshots []registry.Snapshot

func (f fakeSnapshots) Snapshots() []registry.Snapshot { return f }

func TestRegistryCollector(t *testing.T) {
	counts := registry.NewCounts()
	counts.Domains["default"] = struct{}{}
	counts.Domains["tenant-a"] = struct{}{}
	counts.Projects[registry.DomainProject{Domain: "tenant-a", Project: "default"}] = struct{}{}
	counts.Projects[registry.DomainProject{Domain: "tenant-a", Project: "proj-x"}] = struct{}{}
	counts.Services[registry.ServiceGroup{Domain: "tenant-a", Project: "proj-x", Framework: "go-chassis", FrameworkVersion: "2.7.0"}] = 3
	counts.Instances[registry.InstanceGroup{Domain: "tenant-a", Project: "proj-x", Status: "UP"}] = 5
	synced := registry.Snapshot{
		Source: "main", Up: true, Synced: true, LastSync: time.Unix(1700000000, 0), SyncDuration: registry.Duration(1500 * time.Millisecond),
		Syncs:        map[string]uint64{"success": 2, "failure": 1},
		WatchEvents:  map[registry.WatchEvent]uint64{{Kind: "instance", Type: "PUT"}: 7},
		DecodeErrors: map[string]uint64{"instance": 1},
		Counts:       counts,
	}
	unsynced := registry.Snapshot{Source: "backup", Syncs: map[string]uint64{"success": 0, "failure": 3}, Counts: registry.NewCounts()}
	want := `
# HELP servicecomb_registry_domains Domains (tenants) in the registry.
# TYPE servicecomb_registry_domains gauge
servicecomb_registry_domains{source="main"} 2
# HELP servicecomb_registry_instances Microservice instances by domain, project and status.
# TYPE servicecomb_registry_instances gauge
servicecomb_registry_instances{domain="tenant-a",project="proj-x",source="main",status="UP"} 5
# HELP servicecomb_registry_last_sync_timestamp_seconds Unix time of the last complete read of the registry; 0 before the first.
# TYPE servicecomb_registry_last_sync_timestamp_seconds gauge
servicecomb_registry_last_sync_timestamp_seconds{source="backup"} 0
servicecomb_registry_last_sync_timestamp_seconds{source="main"} 1.7e+09
# HELP servicecomb_registry_projects Projects of a domain.
# TYPE servicecomb_registry_projects gauge
servicecomb_registry_projects{domain="tenant-a",source="main"} 2
# HELP servicecomb_registry_services Microservices by domain, project and framework; Service Center's global services are left out unless configured.
# TYPE servicecomb_registry_services gauge
servicecomb_registry_services{domain="tenant-a",framework="go-chassis",framework_version="2.7.0",project="proj-x",source="main"} 3
# HELP servicecomb_registry_source_up Whether the source reached its registry backend at its last attempt.
# TYPE servicecomb_registry_source_up gauge
servicecomb_registry_source_up{source="backup"} 0
servicecomb_registry_source_up{source="main"} 1
# HELP servicecomb_registry_sync_duration_seconds Duration of the last complete read of the registry.
# TYPE servicecomb_registry_sync_duration_seconds gauge
servicecomb_registry_sync_duration_seconds{source="backup"} 0
servicecomb_registry_sync_duration_seconds{source="main"} 1.5
# HELP servicecomb_registry_syncs_total Full reads of the registry, by result.
# TYPE servicecomb_registry_syncs_total counter
servicecomb_registry_syncs_total{result="failure",source="backup"} 3
servicecomb_registry_syncs_total{result="failure",source="main"} 1
servicecomb_registry_syncs_total{result="success",source="backup"} 0
servicecomb_registry_syncs_total{result="success",source="main"} 2
# HELP servicecomb_registry_watch_events_total Registry changes applied from the watch, by kind of key and event type.
# TYPE servicecomb_registry_watch_events_total counter
servicecomb_registry_watch_events_total{kind="instance",source="main",type="PUT"} 7
`
	c := NewRegistryCollector(fakeSnapshots{synced, unsynced})
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"servicecomb_registry_domains", "servicecomb_registry_instances", "servicecomb_registry_last_sync_timestamp_seconds",
		"servicecomb_registry_projects", "servicecomb_registry_services", "servicecomb_registry_source_up",
		"servicecomb_registry_sync_duration_seconds", "servicecomb_registry_syncs_total", "servicecomb_registry_watch_events_total"); err != nil {
		t.Error(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}

type fakeEndpoints []registry.EndpointStatus

func (f fakeEndpoints) ServiceCenterEndpoints() []registry.EndpointStatus { return f }

func TestServiceCenterCollector(t *testing.T) {
	c := NewServiceCenterCollector(fakeEndpoints{
		{Endpoint: "http://sc-1:30100", Healthy: true, Reachable: true, Version: "2.2.0", APIVersion: "4.0.0", Errors: 2},
		{Endpoint: "http://sc-2:30100"},
	})
	want := `
# HELP servicecomb_service_center_healthy Whether a Service Center endpoint's own health check passes (1) or not (0, also when unreachable).
# TYPE servicecomb_service_center_healthy gauge
servicecomb_service_center_healthy{endpoint="http://sc-1:30100"} 1
servicecomb_service_center_healthy{endpoint="http://sc-2:30100"} 0
# HELP servicecomb_service_center_info Version of a Service Center endpoint, from its version API; always 1.
# TYPE servicecomb_service_center_info gauge
servicecomb_service_center_info{api_version="4.0.0",endpoint="http://sc-1:30100",version="2.2.0"} 1
# HELP servicecomb_service_center_request_errors_total Failed requests to a Service Center endpoint: unreachable, timeout, 5xx, malformed or truncated body.
# TYPE servicecomb_service_center_request_errors_total counter
servicecomb_service_center_request_errors_total{endpoint="http://sc-1:30100"} 2
servicecomb_service_center_request_errors_total{endpoint="http://sc-2:30100"} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
