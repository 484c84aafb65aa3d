// Package servicecombexporter only embeds the VERSION file, which lives at
// the module root where go:embed can reach it; see internal/buildinfo.
package servicecombexporter

import _ "embed"

// VersionFile is the content of the VERSION file.
//
//go:embed VERSION
var VersionFile string
