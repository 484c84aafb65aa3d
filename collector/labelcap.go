package collector

import (
	"cmp"
	"slices"
	"unicode/utf8"

	"github.com/servicecomb/servicecomb_exporter/registry"
)

// Bounds on the label values that registry data becomes. Domain, project
// and framework names come from whoever registers a service; without
// bounds, one registration can make a label value of any size, and a
// project whose services report ever new framework versions, a series per
// version.
const (
	// MaxLabelValueLength is the largest label value in bytes; a longer one
	// is cut at a character boundary and ends with truncationMarker.
	MaxLabelValueLength = 128
	// MaxFrameworksPerProject is how many framework and version pairs of
	// one domain and project have their own series: those with the most
	// services (then by name). The others are counted under Other.
	MaxFrameworksPerProject = 50
	// Other is the framework and framework_version of the services folded
	// by MaxFrameworksPerProject.
	Other = "OTHER"

	truncationMarker = "…"
)

// Reasons for folding, the reason label of servicecomb_registry_label_folds.
const (
	foldTruncated = "truncated"
	foldOther     = "other"
)

// boundedCounts is a snapshot's counts with the bounds applied, and how
// many label sets were folded, by reason.
type boundedCounts struct {
	services  map[registry.ServiceGroup]int64
	instances map[registry.InstanceGroup]int64
	projects  map[string]int // by domain
	folds     map[string]int
}

// bound applies the label bounds to c. Label sets that become equal are
// added up, so that no service or instance goes uncounted.
func bound(c registry.Counts) boundedCounts {
	b := boundedCounts{
		services:  make(map[registry.ServiceGroup]int64, len(c.Services)),
		instances: make(map[registry.InstanceGroup]int64, len(c.Instances)),
		projects:  map[string]int{},
		folds:     map[string]int{foldTruncated: 0, foldOther: 0},
	}
	cut := func(v string, truncated *bool) string {
		out, ok := truncateLabel(v)
		*truncated = *truncated || ok
		return out
	}
	for dp := range c.Projects {
		var t bool
		b.projects[cut(dp.Domain, &t)]++
		b.count(foldTruncated, t)
	}
	for g, n := range c.Instances {
		var t bool
		g = registry.InstanceGroup{Domain: cut(g.Domain, &t), Project: cut(g.Project, &t), Status: cut(g.Status, &t)}
		b.instances[g] += n
		b.count(foldTruncated, t)
	}
	byProject := map[registry.DomainProject][]registry.ServiceGroup{}
	services := make(map[registry.ServiceGroup]int64, len(c.Services))
	for g, n := range c.Services {
		var t bool
		g = registry.ServiceGroup{Domain: cut(g.Domain, &t), Project: cut(g.Project, &t),
			Framework: cut(g.Framework, &t), FrameworkVersion: cut(g.FrameworkVersion, &t)}
		b.count(foldTruncated, t)
		if _, seen := services[g]; !seen {
			dp := registry.DomainProject{Domain: g.Domain, Project: g.Project}
			byProject[dp] = append(byProject[dp], g)
		}
		services[g] += n
	}
	for dp, groups := range byProject {
		if len(groups) > MaxFrameworksPerProject {
			slices.SortFunc(groups, func(x, y registry.ServiceGroup) int {
				return cmp.Or(cmp.Compare(services[y], services[x]), cmp.Compare(x.Framework, y.Framework),
					cmp.Compare(x.FrameworkVersion, y.FrameworkVersion))
			})
			other := registry.ServiceGroup{Domain: dp.Domain, Project: dp.Project, Framework: Other, FrameworkVersion: Other}
			for _, g := range groups[MaxFrameworksPerProject:] {
				b.services[other] += services[g]
				b.count(foldOther, true)
			}
			groups = groups[:MaxFrameworksPerProject]
		}
		for _, g := range groups {
			b.services[g] += services[g]
		}
	}
	return b
}

func (b *boundedCounts) count(reason string, folded bool) {
	if folded {
		b.folds[reason]++
	}
}

// truncateLabel cuts v to MaxLabelValueLength bytes, marker included, at a
// character boundary; true when it did.
func truncateLabel(v string) (string, bool) {
	if len(v) <= MaxLabelValueLength {
		return v, false
	}
	n := MaxLabelValueLength - len(truncationMarker)
	for n > 0 && !utf8.RuneStart(v[n]) {
		n--
	}
	return v[:n] + truncationMarker, true
}
