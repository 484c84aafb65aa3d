package reload

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-kit/log"

	"github.com/servicecomb/servicecomb_exporter/config"
)

const oneSource = "sources:\n  - name: a\n    etcd:\n      endpoints: [http://127.0.0.1:1]\n"

// TestHolderKeepsRunningConfig: every load is recorded, and a load that
// fails (unreadable, invalid, blank while sources run, refused by apply)
// leaves the configuration in force as it was.
func TestHolderKeepsRunningConfig(t *testing.T) {
	for _, tt := range []struct {
		name     string
		next     string // file content at the second load
		applyErr error  // apply's answer at the second load
		wantErr  string // "" for success
	}{
		{"valid", "sources: []\n", nil, ""},
		{"invalid YAML", "sources: [\n", nil, "config.yml"},
		{"unknown key", "nope: 1\n", nil, "nope"},
		{"blank while sources run", "# nothing\n", nil, "refusing to remove them"},
		{"refused by apply", oneSource, errors.New("no"), "applying configuration: no"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "config.yml")
			write(t, file, oneSource)
			var applyErr error
			applied := 0
			h := New(log.NewNopLogger(), file, func(*config.Config) error { applied++; return applyErr })
			if err := h.Reload(); err != nil {
				t.Fatal(err)
			}
			first := h.Current()
			write(t, file, tt.next)
			applyErr = tt.applyErr
			err := h.Reload()
			s := h.Status()
			if tt.wantErr == "" {
				if err != nil || h.Current() == first || !s.Successful || s.Successes != 2 || s.Failures != 0 {
					t.Fatalf("err %v, status %+v", err, s)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			if h.Current() != first {
				t.Error("the running configuration was replaced")
			}
			if s.Successful || s.Successes != 1 || s.Failures != 1 || s.LastError != err.Error() || s.LastSuccess.IsZero() || s.File != file {
				t.Errorf("status %+v", s)
			}
		})
	}
}

// TestHolderDefaults: without a file the holder applies the defaults, and
// an empty file at start-up is valid.
func TestHolderDefaults(t *testing.T) {
	h := New(log.NewNopLogger(), "", func(*config.Config) error { return nil })
	if s := h.Status(); s.File != "(defaults)" || !s.LastAttempt.IsZero() {
		t.Errorf("before the first load: %+v", s)
	}
	if err := h.Reload(); err != nil || h.Current() == nil || h.Status().Successes != 1 {
		t.Fatalf("defaults: %v", err)
	}
	file := filepath.Join(t.TempDir(), "empty.yml")
	write(t, file, "")
	if err := New(log.NewNopLogger(), file, func(*config.Config) error { return nil }).Reload(); err != nil {
		t.Errorf("empty file at start-up: %v", err)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
