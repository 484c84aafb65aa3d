package servicecenter

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/servicecomb/servicecomb_exporter/internal/testutil/scmetrics"
	"github.com/servicecomb/servicecomb_exporter/registry"
)

// derivedStatuses is how testdata/06-every-status/dump_cache.json was made
// from the 03-steady recording (see testdata/README.md): these instances,
// by host name, got another status; nothing else changed.
var derivedStatuses = map[string]string{
	"order-host-1":  "DOWN",
	"order-host-2":  "STARTING",
	"pay-host-1":    "TESTING",
	"cart-host-1":   "OUTOFSERVICE",
	"search-host-1": "DOWN",
}

type dumpDoc struct {
	Cache struct {
		Services []struct {
			Key   string `json:"key"`
			Value struct {
				ServiceID string `json:"serviceId"`
				AppID     string `json:"appId"`
			} `json:"value"`
		} `json:"services"`
		Instances []struct {
			Key   string `json:"key"`
			Value struct {
				ServiceID string `json:"serviceId"`
				HostName  string `json:"hostName"`
				Status    string `json:"status"`
			} `json:"value"`
		} `json:"instances"`
	} `json:"cache"`
}

// TestDerivedDumpIsTheRecordingWithOtherStatuses keeps the derived fixture
// honest: it is the recorded dump, byte for byte, but for the statuses
// derivedStatuses lists.
func TestDerivedDumpIsTheRecordingWithOtherStatuses(t *testing.T) {
	recorded := string(loadFixture(t, "03-steady/dump_cache").body)
	derived := loadFixture(t, "06-every-status/dump_cache").body
	var doc dumpDoc
	mustUnmarshal(t, derived, &doc)
	rebuilt := string(derived)
	changed := map[string]string{}
	for _, inst := range doc.Cache.Instances {
		if inst.Value.Status == "UP" {
			continue
		}
		changed[inst.Value.HostName] = inst.Value.Status
		entry := strings.Index(rebuilt, `"key":"`+inst.Key+`"`)
		at := entry + strings.Index(rebuilt[entry:], `"status":"`+inst.Value.Status+`"`)
		rebuilt = rebuilt[:at] + `"status":"UP"` + rebuilt[at+len(`"status":"`+inst.Value.Status+`"`):]
	}
	if !maps.Equal(changed, derivedStatuses) {
		t.Errorf("statuses other than UP: %v, want %v", changed, derivedStatuses)
	}
	if rebuilt != recorded {
		t.Error("the derived dump differs from the recording beyond the statuses")
	}
}

// TestEveryInstanceStatusCounted: a dump with instances in every status
// (UP, DOWN, STARTING, TESTING, OUTOFSERVICE) is counted in full, each
// instance under its own status. Service Center's instance gauge counts
// instance keys whatever their status, so the recorded gauges hold for the
// derived dump too: a source that skipped any status would fall short.
func TestEveryInstanceStatusCounted(t *testing.T) {
	wantServices, wantInstances, wantDomains := scmetrics.Gauges(t, "testdata/03-steady/metrics.txt")
	body := loadFixture(t, "06-every-status/dump_cache").body

	// What the dump holds, read with encoding/json: instances by
	// domain, project and status, but for Service Center's own (its
	// service is in default/default with appId default).
	var doc dumpDoc
	mustUnmarshal(t, body, &doc)
	global := map[string]bool{}
	for _, svc := range doc.Cache.Services {
		if strings.HasPrefix(svc.Key, "/cse-sr/ms/files/default/default/") && svc.Value.AppID == "default" {
			global[svc.Value.ServiceID] = true
		}
	}
	wantByStatus := map[registry.InstanceGroup]int64{}
	for _, inst := range doc.Cache.Instances {
		parts := strings.Split(strings.TrimPrefix(inst.Key, "/cse-sr/inst/files/"), "/")
		if len(parts) != 4 {
			t.Fatalf("instance key %q", inst.Key)
		}
		if global[inst.Value.ServiceID] {
			continue
		}
		wantByStatus[registry.InstanceGroup{Domain: parts[0], Project: parts[1], Status: inst.Value.Status}]++
	}
	seen := map[string]bool{}
	for g := range wantByStatus {
		seen[g.Status] = true
	}
	for _, status := range registry.InstanceStatuses {
		if !seen[status] {
			t.Fatalf("the derived dump has no %s instance", status)
		}
	}

	sc := newFakeSC(t)
	sc.set(pathDump, loadFixture(t, "06-every-status/dump_cache").handler())
	s, _ := newSource(t, Options{Config: scConfig(sc.URL()), Rules: registry.Rules{ExcludeGlobal: true}})
	mustPoll(t, s)
	snap := s.Snapshot()
	services, instances := flatCounts(snap.Counts)
	if !maps.Equal(instances, wantInstances) {
		t.Errorf("instances by domain/project = %v, want Service Center's %v", instances, wantInstances)
	}
	if !maps.Equal(services, wantServices) {
		t.Errorf("services = %v, want Service Center's %v", services, wantServices)
	}
	if int64(len(snap.Counts.Domains)) != wantDomains {
		t.Errorf("domains = %v, want %d", snap.Counts.Domains, wantDomains)
	}
	if !maps.Equal(snap.Counts.Instances, wantByStatus) {
		keys := slices.SortedFunc(maps.Keys(wantByStatus), func(a, b registry.InstanceGroup) int {
			return strings.Compare(a.Domain+a.Project+a.Status, b.Domain+b.Project+b.Status)
		})
		for _, g := range keys {
			if got := snap.Counts.Instances[g]; got != wantByStatus[g] {
				t.Errorf("%s/%s %s: %d instances, want %d", g.Domain, g.Project, g.Status, got, wantByStatus[g])
			}
		}
		t.Errorf("instances = %v, want %v", snap.Counts.Instances, wantByStatus)
	}
	for kind, n := range snap.DecodeErrors {
		if n != 0 {
			t.Errorf("decode errors of %s = %d, want 0", kind, n)
		}
	}
}
