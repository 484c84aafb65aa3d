package source

import (
	"fmt"
	"testing"

	"github.com/servicecomb/servicecomb_exporter/registry"
)

// BenchmarkSummaries is the part of a /status render the web benchmark
// leaves out: summarising 1,000 domains of 5 projects from a snapshot's
// counts. Its baseline, in the same run, is the collector's own walk of the
// same counts (one pass over the maps).
func BenchmarkSummaries(b *testing.B) {
	c := registry.NewCounts()
	for d := range 1000 {
		domain := fmt.Sprintf("tenant-%04d", d)
		c.Domains[domain] = struct{}{}
		for p := range 5 {
			project := fmt.Sprintf("p%d", p)
			c.Projects[registry.DomainProject{Domain: domain, Project: project}] = struct{}{}
			c.Services[registry.ServiceGroup{Domain: domain, Project: project, Framework: "SpringCloud", FrameworkVersion: "3"}] = 4
			for _, status := range []string{"UP", "DOWN"} {
				c.Instances[registry.InstanceGroup{Domain: domain, Project: project, Status: status}] = 10
			}
		}
	}
	b.Run("summarize", func(b *testing.B) {
		for b.Loop() {
			if got := summarize(c); len(got) != 1000 {
				b.Fatalf("%d domains", len(got))
			}
		}
	})
	b.Run("baseline-walk", func(b *testing.B) {
		for b.Loop() {
			var n int64
			for range c.Projects {
				n++
			}
			for _, v := range c.Services {
				n += v
			}
			for _, v := range c.Instances {
				n += v
			}
			if n == 0 {
				b.Fatal("empty")
			}
		}
	})
}
