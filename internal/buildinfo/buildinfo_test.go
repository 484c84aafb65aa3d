package buildinfo

import (
	"strings"
	"testing"

	servicecombexporter "github.com/servicecomb/servicecomb_exporter"
)

func TestPick(t *testing.T) {
	tests := []struct{ linked, module, file, want string }{
		{"1.2.3", "v9.9.9", "0.1.0\n", "1.2.3"},
		{"", "v0.2.0", "0.1.0\n", "0.2.0"},
		{"", "(devel)", "0.1.0\n", "0.1.0"},
		{"", "v0.0.0-20261126131500-abcdef123456+dirty", "0.1.0\n", "0.1.0"},
		{"", "", "0.1.0\n", "0.1.0"},
		{"", "", "", "unknown"},
	}
	for _, tt := range tests {
		if got := pick(tt.linked, tt.module, tt.file); got != tt.want {
			t.Errorf("pick(%q, %q, %q) = %q, want %q", tt.linked, tt.module, tt.file, got, tt.want)
		}
	}
}

// A test binary is a plain build: no -ldflags.
func TestVersionNeverEmptyInPlainBuild(t *testing.T) {
	v := Version()
	if v == "" || v == "unknown" {
		t.Fatalf("Version() = %q in a plain build", v)
	}
	if file := strings.TrimSpace(servicecombexporter.VersionFile); file == "" {
		t.Fatal("VERSION file not embedded")
	}
}
