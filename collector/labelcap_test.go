package collector

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/servicecomb/servicecomb_exporter/registry"
)

// TestRegistryLabelValuesAreBounded: what the registry writes cannot make
// label values or series without bound. A 120 KB framework name is cut to
// the length limit with a marker; 300 framework versions in one project
// become the 50 largest plus OTHER; both foldings are counted.
func TestRegistryLabelValuesAreBounded(t *testing.T) {
	counts := registry.NewCounts()
	long := strings.Repeat("é", 60<<10) // 120 KB, two bytes a rune
	longDomain := strings.Repeat("d", 300)
	counts.Services[registry.ServiceGroup{Domain: "a", Project: "p", Framework: long, FrameworkVersion: "1"}] = 2
	counts.Services[registry.ServiceGroup{Domain: "a", Project: "p", Framework: long + "x", FrameworkVersion: "1"}] = 1 // same after the cut
	var total int64 = 3
	for i := 0; i < 300; i++ {
		n := int64(1)
		if i%7 == 0 {
			n = 10 // the 43 largest are kept whatever their names
		}
		counts.Services[registry.ServiceGroup{Domain: "b", Project: "p", Framework: "fw", FrameworkVersion: fmt.Sprintf("v%03d", i)}] = n
		total += n
	}
	counts.Instances[registry.InstanceGroup{Domain: longDomain, Project: "p", Status: "UP"}] = 4
	counts.Projects[registry.DomainProject{Domain: longDomain, Project: "p"}] = struct{}{}
	snap := registry.Snapshot{Source: "main", Up: true, Synced: true, Syncs: map[string]uint64{}, Counts: counts}

	ch := make(chan prometheus.Metric, 1000)
	NewRegistryCollector(fakeSnapshots{snap}).Collect(ch)
	close(ch)
	servicesPerProject := map[string]int{}
	var servicesTotal float64
	folds := map[string]float64{}
	other := 0.0
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		labels := map[string]string{}
		for _, l := range pb.Label {
			labels[l.GetName()] = l.GetValue()
			if len(l.GetValue()) > MaxLabelValueLength || !utf8.ValidString(l.GetValue()) {
				t.Errorf("label %s has %d bytes (or invalid UTF-8), over %d", l.GetName(), len(l.GetValue()), MaxLabelValueLength)
			}
		}
		desc := m.Desc().String()
		switch {
		case strings.Contains(desc, `"servicecomb_registry_services"`):
			servicesPerProject[labels["domain"]]++
			servicesTotal += pb.GetGauge().GetValue()
			if labels["framework"] == Other {
				other += pb.GetGauge().GetValue()
			}
			if labels["domain"] == "a" && !strings.HasSuffix(labels["framework"], truncationMarker) {
				t.Errorf("framework %.20q… not cut with the marker", labels["framework"])
			}
		case strings.Contains(desc, `"servicecomb_registry_instances"`):
			if !strings.HasSuffix(labels["domain"], truncationMarker) || pb.GetGauge().GetValue() != 4 {
				t.Errorf("instances of the long domain: %q %v", labels["domain"], pb.GetGauge().GetValue())
			}
		case strings.Contains(desc, `"servicecomb_registry_label_folds"`):
			folds[labels["reason"]] = pb.GetGauge().GetValue()
		}
	}
	if servicesPerProject["a"] != 1 || servicesPerProject["b"] != MaxFrameworksPerProject+1 {
		t.Errorf("service series per domain %v, want a: 1 (truncated names merged), b: %d", servicesPerProject, MaxFrameworksPerProject+1)
	}
	if servicesTotal != float64(total) {
		t.Errorf("services sum to %v after folding, want %d: folding must not lose any", servicesTotal, total)
	}
	if want := float64(300 - MaxFrameworksPerProject); other != want { // the largest 43 and 7 more were kept, each of the rest is 1
		t.Errorf("OTHER counts %v services, want %v", other, want)
	}
	// Folded label sets: 2 services and 1 instance group truncated, and
	// 250 pairs under OTHER.
	if folds["truncated"] != 4 || folds["other"] != 250 {
		t.Errorf("folds %v, want truncated 4 (2 service groups, 1 instance group, 1 project domain) and other 250", folds)
	}
}
