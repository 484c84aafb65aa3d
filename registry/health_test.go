package registry

import (
	"errors"
	"fmt"
	"testing"
	"unsafe"
)

// TestStateOrphansSchemasServiceCenter: the counts beside services and
// instances, in any order of events.
func TestStateOrphansSchemasServiceCenter(t *testing.T) {
	l := NewLayout(testPrefix)
	sKey := l.ServiceKey("d", "p", "s1")
	iKey := l.InstanceKey("d", "p", "s1", "i1")
	i2Key := l.InstanceKey("d", "p", "s1", "i2")
	scKey := l.ServiceKey("default", "default", "sc")
	sci1 := l.InstanceKey("default", "default", "sc", "a")
	sci2 := l.InstanceKey("default", "default", "sc", "b")
	sc := named("default", "SERVICECENTER", "SERVICECENTER", "")
	schema := l.SchemaKey("d", "p", "s1", "schema1")
	type scCounts = ServiceCenterCounts
	tests := []struct {
		name          string
		rules         Rules
		events        []Event
		wantOrphans   map[DomainProject]int64
		wantSchemas   map[DomainProject]int64
		wantInstances map[InstanceGroup]int64
		wantSC        scCounts
		wantErr       error
	}{
		{
			name:          "an instance before its service is an orphan until the service comes",
			events:        []Event{put(iKey, inst("UP")), put(i2Key, inst("DOWN"))},
			wantOrphans:   map[DomainProject]int64{{"d", "p"}: 2},
			wantInstances: map[InstanceGroup]int64{},
		},
		{
			name:          "the service arrives: no orphan left",
			events:        []Event{put(iKey, inst("UP")), put(sKey, svc("a", ""))},
			wantOrphans:   map[DomainProject]int64{},
			wantInstances: map[InstanceGroup]int64{{"d", "p", "UP"}: 1},
		},
		{
			name:          "a service deleted with its instances left behind makes orphans",
			events:        []Event{put(sKey, svc("a", "")), put(iKey, inst("UP")), put(i2Key, inst("DOWN")), del(sKey, svc("a", ""))},
			wantOrphans:   map[DomainProject]int64{{"d", "p"}: 2},
			wantInstances: map[InstanceGroup]int64{},
		},
		{
			name: "orphans deleted or expired leave nothing",
			events: []Event{put(sKey, svc("a", "")), put(iKey, inst("UP")), put(i2Key, inst("DOWN")), del(sKey, svc("a", "")),
				del(iKey, inst("UP")), update(i2Key, inst("DOWN"), inst("UP")), del(i2Key, inst("UP"))},
			wantOrphans:   map[DomainProject]int64{},
			wantInstances: map[InstanceGroup]int64{},
		},
		{
			name:          "instances of an undecodable service are no orphans: the document exists",
			events:        []Event{put(sKey, "garbage"), put(iKey, inst("UP"))},
			wantOrphans:   map[DomainProject]int64{},
			wantInstances: map[InstanceGroup]int64{},
		},
		{
			name:          "instances of a global service are no orphans",
			rules:         DefaultRules(),
			events:        []Event{put(sci1, inst("UP")), put(scKey, sc)},
			wantOrphans:   map[DomainProject]int64{},
			wantInstances: map[InstanceGroup]int64{},
			wantSC:        scCounts{Services: 1, Instances: [NumStatuses]int64{1}},
		},
		{
			name:        "schemas count by key, updates do not add, deletes remove",
			events:      []Event{put(schema, "h1"), update(schema, "h1", "h2"), put(l.SchemaKey("d", "p", "s2", "x"), ""), put(l.SchemaKey("e", "p", "s", "y"), "h"), del(l.SchemaKey("e", "p", "s", "y"), "h")},
			wantSchemas: map[DomainProject]int64{{"d", "p"}: 2}, wantOrphans: map[DomainProject]int64{},
			wantInstances: map[InstanceGroup]int64{},
		},
		{
			name:    "a schema delete never counted needs a resync",
			events:  []Event{del(schema, "h")},
			wantErr: ErrInconsistent,
		},
		{
			name:  "Service Center's instances by status, whatever the rules; UP stays known at 0",
			rules: Rules{},
			events: []Event{put(scKey, sc), put(sci1, inst("UP")), put(sci2, inst("STARTING")),
				update(sci2, inst("STARTING"), inst("UP")), update(sci1, inst("UP"), inst("DOWN")), update(sci2, inst("UP"), inst("DOWN"))},
			wantOrphans:   map[DomainProject]int64{},
			wantInstances: map[InstanceGroup]int64{{"default", "default", "DOWN"}: 2},
			wantSC:        scCounts{Services: 1, Instances: [NumStatuses]int64{0, 2}},
		},
		{
			name:          "Service Center's service deleted: its instances become orphans",
			rules:         DefaultRules(),
			events:        []Event{put(scKey, sc), put(sci1, inst("UP")), del(scKey, sc)},
			wantOrphans:   map[DomainProject]int64{{"default", "default"}: 1},
			wantInstances: map[InstanceGroup]int64{},
		},
		{
			name:          "SERVICECENTER of another app is not Service Center",
			events:        []Event{put(scKey, named("shop", "SERVICECENTER", "", "")), put(sci1, inst("UP"))},
			wantOrphans:   map[DomainProject]int64{},
			wantInstances: map[InstanceGroup]int64{{"default", "default", "UP"}: 1},
		},
		{
			name:          "a service renamed to SERVICECENTER brings its instances",
			rules:         DefaultRules(),
			events:        []Event{put(scKey, named("default", "x", "", "")), put(sci1, inst("TESTING")), update(scKey, named("default", "x", "", ""), sc)},
			wantOrphans:   map[DomainProject]int64{},
			wantInstances: map[InstanceGroup]int64{},
			wantSC:        scCounts{Services: 1, Instances: [NumStatuses]int64{0, 0, 0, 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewState(l, tt.rules, nil)
			if err := applyAll(s, tt.events); !errors.Is(err, tt.wantErr) {
				t.Fatalf("Apply error %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			c := s.Counts()
			if tt.wantSchemas == nil {
				tt.wantSchemas = map[DomainProject]int64{}
			}
			for name, pair := range map[string][2]any{
				"orphans": {c.Orphans, tt.wantOrphans}, "schemas": {c.Schemas, tt.wantSchemas},
				"instances": {c.Instances, tt.wantInstances}, "Service Center": {c.ServiceCenter, tt.wantSC},
			} {
				if fmt.Sprint(pair[0]) != fmt.Sprint(pair[1]) {
					t.Errorf("%s %v, want %v", name, pair[0], pair[1])
				}
			}
		})
	}
}

// TestChurnCounter: what a watch event means for registrations and
// deregistrations.
func TestChurnCounter(t *testing.T) {
	l := NewLayout(testPrefix)
	iKey := l.InstanceKey("d", "p", "s", "i")
	tests := []struct {
		name       string
		events     []Event
		reg, dereg string
	}{
		{"a new instance registers", []Event{put(iKey, inst("UP"))}, "map[{d p}:1]", "map[]"},
		{"a status change or rewrite is no registration", []Event{update(iKey, inst("UP"), inst("DOWN")), update(iKey, inst("DOWN"), inst("DOWN"))}, "map[]", "map[]"},
		{"a delete or lease expiry deregisters", []Event{del(iKey, inst("UP"))}, "map[]", "map[{d p}:1]"},
		{"a delete without its previous value still deregisters", []Event{{Type: Delete, Key: []byte(iKey)}}, "map[]", "map[{d p}:1]"},
		{"a malformed value still registers: the key appeared", []Event{put(iKey, `{"status":`)}, "map[{d p}:1]", "map[]"},
		{"services, schemas, leases and bad keys are no instances", []Event{put(l.ServiceKey("d", "p", "s"), svc("a", "")),
			put(l.SchemaKey("d", "p", "s", "x"), ""), put(testPrefix+"/inst/leases/d/p/s/i", "1"), put(testPrefix+"/inst/files/d/p/s", inst("UP")),
			{Type: Delete, Key: []byte(l.ServiceKey("d", "p", "s"))}}, "map[]", "map[]"},
		{"per domain and project", []Event{put(iKey, inst("UP")), put(l.InstanceKey("e", "q", "s", "i"), inst("UP")), put(l.InstanceKey("e", "q", "s", "j"), inst("UP")),
			del(l.InstanceKey("e", "q", "s", "j"), inst("UP"))}, "map[{d p}:1 {e q}:2]", "map[{e q}:1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewChurnCounter()
			for _, e := range tt.events {
				c.Observe(l, e)
			}
			got := c.Churn()
			if fmt.Sprint(got.Registrations) != tt.reg || fmt.Sprint(got.Deregistrations) != tt.dereg {
				t.Errorf("+%v -%v, want +%s -%s", got.Registrations, got.Deregistrations, tt.reg, tt.dereg)
			}
			got.Registrations[DomainProject{"x", "y"}]++ // a copy
			if _, shared := c.Churn().Registrations[DomainProject{"x", "y"}]; shared {
				t.Error("Churn shares its maps with the counter")
			}
		})
	}
}

// TestServiceEntryStaysSmall: the per-service entry is the state's only
// memory that grows with the registry (nothing is kept per instance); the
// flags for orphans and Service Center's own fit in its padding.
func TestServiceEntryStaysSmall(t *testing.T) {
	if size := unsafe.Sizeof(serviceEntry{}); size != 64 {
		t.Errorf("serviceEntry is %d bytes, want 64 (as before them)", size)
	}
}
