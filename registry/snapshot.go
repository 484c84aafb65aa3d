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
	SyncDuration time.Duration `json:"syncDuration"`
	// Revision is the backend revision the counts reflect (etcd only).
	Revision int64 `json:"revision,omitempty"`
	// LastError is the last failure, "" after a success. It never holds
	// credentials.
	LastError string `json:"lastError,omitempty"`

	Syncs        map[string]uint64     `json:"syncs"`        // by result: success, failure
	WatchEvents  map[WatchEvent]uint64 `json:"-"`            // by kind and event type
	DecodeErrors map[string]uint64     `json:"decodeErrors"` // by kind
	Counts       Counts                `json:"-"`
}

// WatchEvent labels a watch event count.
type WatchEvent struct {
	Kind string
	Type string
}
