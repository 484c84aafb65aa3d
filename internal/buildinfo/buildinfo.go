// Package buildinfo makes the exporter's version known in every build: the
// release build sets it with -ldflags, a plain `go build` or `go install`
// gets it from the module build info or, failing that, the VERSION file.
package buildinfo

import (
	"runtime/debug"
	"strings"

	"github.com/prometheus/common/version"

	servicecombexporter "github.com/servicecomb/servicecomb_exporter"
)

// Version returns the version: the one set at link time, else the module
// version of `go install module@version`, else the VERSION file. It is
// never empty.
func Version() string {
	return pick(version.Version, readModuleVersion(), servicecombexporter.VersionFile)
}

func pick(linked, module, file string) string {
	if linked != "" {
		return linked
	}
	// A build inside the checkout reports "(devel)", or a v0.0.0-date-hash
	// pseudo-version when the commit has no tag: the file says more then.
	if module != "" && module != "(devel)" && !strings.HasPrefix(module, "v0.0.0-") {
		return strings.TrimPrefix(module, "v")
	}
	if v := strings.TrimSpace(file); v != "" {
		return v
	}
	return "unknown"
}

func readModuleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.Main.Version
	}
	return ""
}

// Fill sets prometheus/common's version.Version when the linker did not,
// so that --version, the build_info metric and the logs carry it too.
func Fill() {
	version.Version = Version()
}
