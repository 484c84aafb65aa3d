// Package alarm is the exporter's alarm center, after Service Center's: a
// list of alarms, each ACTIVATED or CLEARED, raised and cleared by the
// components that detect trouble, listed and cleared over the admin API, and
// the source of the health check.
//
// Unlike Service Center's, the state is changed synchronously (a Raise is
// visible to List the moment it returns); the bus only carries the
// transitions to asynchronous consumers such as the logger and the
// Alertmanager forwarder. Alarms also carry a source, timestamps and a raise
// count, and an alarm id may clear itself after a quiet period.
package alarm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"time"
)

// ID names a kind of alarm.
type ID string

// Status is ACTIVATED or CLEARED, as in Service Center.
type Status string

const (
	Activated Status = "ACTIVATED"
	Cleared   Status = "CLEARED"
)

// The alarm ids of Service Center, built into every Center.
const (
	// BackendConnectionRefuse: a registry backend cannot be reached.
	BackendConnectionRefuse ID = "BackendConnectionRefuse"
	// InternalError: the exporter answered a request with a 5xx.
	InternalError ID = "InternalError"
	// IncrementPullError: Service Center's syncer pulled fewer instances
	// from a peer cluster than it declared; only ever mirrored.
	IncrementPullError ID = "IncrementPullError"
	// WebsocketOfScSyncerLost: the websocket between Service Center and its
	// syncer broke; only ever mirrored. Service Center never clears it.
	WebsocketOfScSyncerLost ID = "WebsocketOfScSyncerLost"
)

// AuthenticationFailed is the exporter's own alarm for a Service Center
// that refuses its credentials (wrong password, blocked account) or their
// permissions. Its source is the name of the exporter's registry source,
// since the refusal concerns an account, not one endpoint.
const AuthenticationFailed ID = "AuthenticationFailed"

// ServiceSeriesDropped is the exporter's own alarm for a source with more
// services than registry.per_service.max_services: the rest have no
// per-service series. Its source is the registry source's name.
const ServiceSeriesDropped ID = "ServiceSeriesDropped"

// FieldDetail is the standard field: a human-readable account of the alarm.
const FieldDetail = "detail"

// Subject is the bus subject of alarm transitions, as in Service Center.
const Subject = "__ALARM_SUBJECT__"

// Field is one key and value of an alarm; values must marshal to JSON.
type Field struct {
	Key   string
	Value any
}

// Detail returns the standard detail field.
func Detail(format string, args ...any) Field {
	return Field{Key: FieldDetail, Value: fmt.Sprintf(format, args...)}
}

// Alarm is one entry of the alarm center. Its identity is (ID, Source).
// The JSON form is Service Center's (id, status, fields) extended with the
// source, timestamps (RFC 3339) and the raise count.
type Alarm struct {
	ID     ID                         `json:"id"`
	Status Status                     `json:"status"`
	Fields map[string]json.RawMessage `json:"fields,omitempty"`
	// Source is empty for the exporter's own alarms; for alarms mirrored
	// from a Service Center it names that Service Center; for
	// AuthenticationFailed it names the exporter's registry source.
	Source      string    `json:"source,omitempty"`
	ActivatedAt time.Time `json:"activatedAt"`
	ClearedAt   time.Time `json:"clearedAt,omitzero"`
	UpdatedAt   time.Time `json:"updatedAt"`
	// RaiseCount counts every Raise since the alarm was first listed,
	// including raises that changed nothing.
	RaiseCount uint64 `json:"raiseCount"`
}

// Active reports whether the alarm is ACTIVATED.
func (a Alarm) Active() bool { return a.Status == Activated }

// Detail returns the detail field as a string ("" if absent or not a string).
func (a Alarm) Detail() string { return a.FieldString(FieldDetail) }

// FieldString returns a string field ("" if absent or not a string).
func (a Alarm) FieldString(key string) string {
	var s string
	if raw, ok := a.Fields[key]; ok {
		_ = json.Unmarshal(raw, &s)
	}
	return s
}

// LastTransition is when the alarm last changed status.
func (a Alarm) LastTransition() time.Time {
	if a.Status == Cleared {
		return a.ClearedAt
	}
	return a.ActivatedAt
}

func encodeFields(fields []Field) (map[string]json.RawMessage, error) {
	if len(fields) == 0 {
		return nil, nil
	}
	m := make(map[string]json.RawMessage, len(fields))
	for _, f := range fields {
		if f.Key == "" {
			return nil, fmt.Errorf("field with empty key")
		}
		raw, err := json.Marshal(f.Value)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", f.Key, err)
		}
		m[f.Key] = raw
	}
	return m, nil
}

func sameFields(a, b map[string]json.RawMessage) bool {
	return maps.EqualFunc(a, b, func(x, y json.RawMessage) bool { return bytes.Equal(x, y) })
}

// Definition describes an alarm id.
type Definition struct {
	ID ID
	// Severity is carried into alerts: critical, warning or info.
	Severity string
	// Summary is a one-line, static description.
	Summary string
	// AutoClearAfter clears an active alarm once it has not been raised for
	// this long; 0 means it stays active until cleared.
	AutoClearAfter time.Duration
}

// builtinDefinitions are registered in every Center.
func builtinDefinitions() []Definition {
	return []Definition{
		{
			ID:       BackendConnectionRefuse,
			Severity: "critical",
			Summary:  "A registry backend cannot be reached.",
		},
		{
			ID:       InternalError,
			Severity: "warning",
			Summary:  "The exporter answered requests with server errors.",
			// Service Center never clears it: its quiet period is
			// alarms.internal_error_auto_clear, which the wiring sets with
			// SetAutoClear from every configuration it applies.
		},
	}
}

// serviceCenterDefinitions describe ids the exporter never raises for
// itself with an empty source (alarms mirrored from Service Center, and
// AuthenticationFailed, raised per source), so their transition counters
// are not created at zero for the empty source.
func serviceCenterDefinitions() []Definition {
	return []Definition{
		{
			ID:       AuthenticationFailed,
			Severity: "critical",
			Summary:  "Service Center refuses the exporter's credentials or their permissions.",
		},
		{
			ID:       ServiceSeriesDropped,
			Severity: "warning",
			Summary:  "Services beyond registry.per_service.max_services have no per-service series.",
		},
		{
			ID:       IncrementPullError,
			Severity: "warning",
			Summary:  "Service Center's syncer received an incomplete incremental pull from a peer cluster.",
		},
		{
			ID:       WebsocketOfScSyncerLost,
			Severity: "warning",
			Summary:  "The websocket between Service Center and its syncer was lost.",
			// Raised once when the connection breaks and never cleared by
			// Service Center: the wiring gives it InternalError's quiet
			// period.
		},
	}
}

// defaultDefinition describes ids that nobody registered, which only
// happens for alarms mirrored from a Service Center.
func defaultDefinition(id ID) Definition {
	return Definition{ID: id, Severity: "warning", Summary: fmt.Sprintf("Service Center alarm %s is active.", id)}
}
