package forwarder

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/servicecomb/servicecomb_exporter/alarm"
)

type defs map[alarm.ID]alarm.Definition

func (d defs) Definition(id alarm.ID) alarm.Definition {
	if def, ok := d[id]; ok {
		return def
	}
	return alarm.Definition{ID: id, Severity: "warning", Summary: "Generic."}
}

func raw(v string) json.RawMessage { return json.RawMessage(v) }

func TestMapping(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	activated := now.Add(-time.Hour)
	cleared := now.Add(-time.Minute)
	d := defs{alarm.BackendConnectionRefuse: {Severity: "critical", Summary: "Backend unreachable."}}
	m := Mapping{AlertnamePrefix: "ServiceComb", ResendInterval: time.Minute,
		ExternalLabels: map[string]string{"region": "eu"}, GeneratorURL: "http://x:9729/v4/default/admin/alarms"}
	tests := []struct {
		name            string
		mapping         Mapping
		alarm           alarm.Alarm
		wantLabels      map[string]string
		wantAnnotations map[string]string
		wantEnds        time.Time
	}{
		{
			name: "active own alarm",
			alarm: alarm.Alarm{ID: alarm.BackendConnectionRefuse, Status: alarm.Activated, ActivatedAt: activated,
				Fields: map[string]json.RawMessage{"detail": raw(`"etcd down"`), "sources": raw(`["main"]`)}},
			wantLabels:      map[string]string{"alertname": "ServiceCombBackendConnectionRefuse", "severity": "critical", "region": "eu"},
			wantAnnotations: map[string]string{"summary": "Backend unreachable.", "description": "etcd down", "sources": `["main"]`},
			wantEnds:        now.Add(4 * time.Minute),
		},
		{
			name:            "cleared mirrored alarm ends at its clear time",
			alarm:           alarm.Alarm{ID: "DiskFull", Source: "http://sc:30100", Status: alarm.Cleared, ActivatedAt: activated, ClearedAt: cleared},
			wantLabels:      map[string]string{"alertname": "ServiceCombDiskFull", "severity": "warning", "region": "eu", "source": "http://sc:30100"},
			wantAnnotations: map[string]string{"summary": "Generic."},
			wantEnds:        cleared,
		},
		{
			name:    "configured severity wins, field names made valid",
			mapping: Mapping{AlertnamePrefix: "SC", ResendInterval: time.Second, Severity: map[string]string{"InternalError": "info"}},
			alarm: alarm.Alarm{ID: alarm.InternalError, Status: alarm.Activated, ActivatedAt: activated,
				Fields: map[string]json.RawMessage{"http-status": raw(`500`), "1st": raw(`true`)}},
			wantLabels:      map[string]string{"alertname": "SCInternalError", "severity": "info"},
			wantAnnotations: map[string]string{"summary": "Generic.", "http_status": "500", "_st": "true"},
			wantEnds:        now.Add(4 * time.Second),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mapping := m
			if tt.mapping.AlertnamePrefix != "" {
				mapping = tt.mapping
			}
			a := mapping.Alert(tt.alarm, d.Definition(tt.alarm.ID), now)
			if len(a.Labels) != len(tt.wantLabels) {
				t.Errorf("labels %v, want %v", a.Labels, tt.wantLabels)
			}
			for k, v := range tt.wantLabels {
				if a.Labels[k] != v {
					t.Errorf("label %s = %q, want %q", k, a.Labels[k], v)
				}
			}
			if len(a.Annotations) != len(tt.wantAnnotations) {
				t.Errorf("annotations %v, want %v", a.Annotations, tt.wantAnnotations)
			}
			for k, v := range tt.wantAnnotations {
				if a.Annotations[k] != v {
					t.Errorf("annotation %s = %q, want %q", k, a.Annotations[k], v)
				}
			}
			if !time.Time(a.StartsAt).Equal(activated) || !time.Time(a.EndsAt).Equal(tt.wantEnds) {
				t.Errorf("startsAt %v endsAt %v, want %v and %v", a.StartsAt, a.EndsAt, activated, tt.wantEnds)
			}
			if string(a.GeneratorURL) != mapping.GeneratorURL {
				t.Errorf("generatorURL %q", a.GeneratorURL)
			}
			if err := a.Validate(nil); err != nil {
				t.Errorf("alert does not validate: %v", err)
			}
		})
	}
}
