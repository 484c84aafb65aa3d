package sourcekit

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/go-kit/log"

	"github.com/servicecomb/servicecomb_exporter/registry"
)

func TestTruncateKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  []byte
		want string
	}{
		{"short", []byte("/cse-sr/ms/files/a"), `"/cse-sr/ms/files/a"`},
		{"256 bytes kept", bytes.Repeat([]byte("k"), 256), `"` + strings.Repeat("k", 256) + `"`},
		{"longer cut with a marker", bytes.Repeat([]byte("k"), 300), `"` + strings.Repeat("k", 256) + `"…`},
		{"control bytes quoted", []byte("a\nb"), `"a\nb"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := TruncateKey(tc.key); got != tc.want {
				t.Errorf("TruncateKey = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestDecodeErrors: every error is counted, logged once per kind and
// interval, with the count and the cut key.
func TestDecodeErrors(t *testing.T) {
	var buf bytes.Buffer
	logger := log.NewLogfmtLogger(&buf)
	var d DecodeErrors
	for range 3 {
		d.Log(logger, registry.KindService, []byte("/svc"), errors.New("bad"), d.Add(registry.KindService, 1))
	}
	d.Log(logger, registry.KindInstance, bytes.Repeat([]byte("i"), 300), errors.New("bad"), d.Add(registry.KindInstance, 2))
	if d.Load(registry.KindService) != 3 || d.Load(registry.KindInstance) != 2 {
		t.Errorf("counts %d %d, want 3 2", d.Load(registry.KindService), d.Load(registry.KindInstance))
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want one per kind:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[0], "errors_total=1") || !strings.Contains(lines[1], "errors_total=2") ||
		!strings.Contains(lines[1], "…") {
		t.Errorf("log lines:\n%s", buf.String())
	}
}

// TestSnapshotCopies: a snapshot shares no map with the source's.
func TestSnapshotCopies(t *testing.T) {
	snap := NewSnapshot("main", "etcd")
	var d DecodeErrors
	d.Add(registry.KindInstance, 4)
	state := registry.NewState(registry.NewLayout("/cse-sr"), registry.Rules{}, nil)
	churn := registry.NewChurnCounter()
	churn.Add(registry.DomainProject{Domain: "d", Project: "p"}, 1, 0)
	got := Snapshot(snap, state, churn, &d)
	got.Churn.Registrations[registry.DomainProject{Domain: "d", Project: "p"}]++
	if churn.Churn().Registrations[registry.DomainProject{Domain: "d", Project: "p"}] != 1 {
		t.Error("the snapshot shares its churn counters with the source")
	}
	got.Syncs["success"]++
	got.WatchEvents[registry.WatchEvent{Kind: "instance", Type: "PUT"}]++
	if snap.Syncs["success"] != 0 || len(snap.WatchEvents) != 0 {
		t.Error("the snapshot shares its maps with the source")
	}
	if got.Source != "main" || got.Type != "etcd" || got.DecodeErrors["instance"] != 4 || len(got.DecodeErrors) != len(registry.Kinds) {
		t.Errorf("snapshot %+v", got)
	}
}
