package registry

import "time"

// Snapshot is a registry source's state at one moment: its counts and its
// own health, for the collectors and the dump API.
type Snapshot struct {
	// Source is the configured source name.
	Source string `json:"source"`
	// Type is the kind of source: etcd or servicecenter.
	Type string `json:"type"`
	// Up is whether the source reached its backend at its last attempt.
	Up bool `json:"up"`
	// Synced is whether Counts come from a complete read of the registry;
	// false until the first sync succeeds.
	Synced bool `json:"synced"`
	// LastSync is when the last full sync completed.
	LastSync time.Time `json:"lastSync,omitzero"`
	// SyncDuration is how long the last full sync took.
	SyncDuration Duration `json:"syncDuration"`
	// Revision is the backend revision the counts reflect (etcd only).
	Revision int64 `json:"revision,omitempty"`
	// LastError is the last failure, "" after a success. It never holds
	// credentials.
	LastError string `json:"lastError,omitempty"`

	Syncs        map[string]uint64     `json:"syncs"`        // by result: success, failure
	WatchEvents  map[WatchEvent]uint64 `json:"-"`            // by kind and event type
	DecodeErrors map[string]uint64     `json:"decodeErrors"` // by kind
	Counts       Counts                `json:"-"`
	// Churn counts instances registered and deregistered since the source
	// started (not reset by a relist).
	Churn Churn `json:"-"`
}

// ServiceSnapshot is one source's per-service counts, apart from Snapshot:
// copying them costs one entry per service, which only the per-service
// metrics need, not every reader of a snapshot (readiness, the status page).
type ServiceSnapshot struct {
	Source string
	// Synced is Snapshot.Synced: Services are those of a complete read.
	Synced   bool
	Services []ServiceCount
}

// WatchEvent labels a watch event count.
type WatchEvent struct {
	Kind string
	Type string
}

// Duration is a time.Duration that marshals to JSON as a Go duration
// string ("1.5ms", "2m3s"), the one style the dump API uses for durations
// (its uptime too), rather than a bare count of nanoseconds.
type Duration time.Duration

// Std returns the duration as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// Seconds returns the duration in seconds.
func (d Duration) Seconds() float64 { return time.Duration(d).Seconds() }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText gives the Go duration string; JSON quotes it.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}
