package source

import (
	"slices"
	"strings"

	"github.com/servicecomb/servicecomb_exporter/registry"
)

// SourceDump is one source in the dump API: its health and what it counts,
// per domain and project.
type SourceDump struct {
	registry.Snapshot
	Domains []DomainDump `json:"domains"`
}

// DomainDump is one domain's counts.
type DomainDump struct {
	Domain   string        `json:"domain"`
	Projects []ProjectDump `json:"projects"`
}

// ProjectDump is one project's counts.
type ProjectDump struct {
	Project   string           `json:"project"`
	Services  int64            `json:"services"`
	Instances map[string]int64 `json:"instances"` // by status
}

// Dump is what the dump API's cache option shows of the registry.
type Dump struct {
	Sources []SourceDump `json:"sources"`
}

// Dump summarises every source for the dump API.
func (m *Manager) Dump() Dump {
	return Dump{Sources: m.Summaries()}
}

func summarize(c registry.Counts) []DomainDump {
	projects := map[registry.DomainProject]*ProjectDump{}
	get := func(domain, project string) *ProjectDump {
		dp := registry.DomainProject{Domain: domain, Project: project}
		p := projects[dp]
		if p == nil {
			p = &ProjectDump{Project: project, Instances: map[string]int64{}}
			projects[dp] = p
		}
		return p
	}
	for dp := range c.Projects {
		get(dp.Domain, dp.Project)
	}
	for g, n := range c.Services {
		get(g.Domain, g.Project).Services += n
	}
	for g, n := range c.Instances {
		get(g.Domain, g.Project).Instances[g.Status] += n
	}
	domains := map[string]*DomainDump{}
	for d := range c.Domains {
		domains[d] = &DomainDump{Domain: d, Projects: []ProjectDump{}}
	}
	for dp, p := range projects {
		d := domains[dp.Domain]
		if d == nil {
			d = &DomainDump{Domain: dp.Domain}
			domains[dp.Domain] = d
		}
		d.Projects = append(d.Projects, *p)
	}
	out := make([]DomainDump, 0, len(domains))
	for _, d := range domains {
		slices.SortFunc(d.Projects, func(a, b ProjectDump) int { return strings.Compare(a.Project, b.Project) })
		out = append(out, *d)
	}
	slices.SortFunc(out, func(a, b DomainDump) int { return strings.Compare(a.Domain, b.Domain) })
	return out
}
