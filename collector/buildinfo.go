package collector

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/version"

	"github.com/servicecomb/servicecomb_exporter/internal/buildinfo"
	"github.com/servicecomb/servicecomb_exporter/internal/metricns"
)

// NewBuildInfoCollector returns servicecomb_exporter_build_info, program
// naming the binary in its help. It replaces
// client_golang's version collector, whose help text leaves out the tags
// label it sets.
func NewBuildInfoCollector(program string) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: metricns.Exporter,
		Name:      "build_info",
		Help: "Always 1; labelled by the version, revision, branch, goversion, goos, goarch and build tags " +
			"of the running " + program + ".",
		ConstLabels: prometheus.Labels{
			"version":   buildinfo.Version(),
			"revision":  version.GetRevision(),
			"branch":    version.Branch,
			"goversion": version.GoVersion,
			"goos":      version.GoOS,
			"goarch":    version.GoArch,
			"tags":      version.GetTags(),
		},
	}, func() float64 { return 1 })
}
