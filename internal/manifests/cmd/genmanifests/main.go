// Command genmanifests writes deploy/kubernetes/prometheusrule.yaml and
// deploy/kubernetes/dashboards-configmap.yaml from rules/ and dashboards/.
// Run it from the repository root: `make manifests`.
package main

import (
	"fmt"
	"os"

	"github.com/servicecomb/servicecomb_exporter/internal/manifests"
)

func main() {
	if err := generate("."); err != nil {
		fmt.Fprintln(os.Stderr, "genmanifests:", err)
		os.Exit(1)
	}
}

func generate(root string) error {
	rules, dashboards, err := manifests.Sources(root)
	if err != nil {
		return err
	}
	rule, err := manifests.PrometheusRule(rules)
	if err != nil {
		return err
	}
	cm, err := manifests.DashboardsConfigMap(dashboards)
	if err != nil {
		return err
	}
	if err := os.WriteFile("deploy/kubernetes/prometheusrule.yaml", rule, 0o644); err != nil {
		return err
	}
	return os.WriteFile("deploy/kubernetes/dashboards-configmap.yaml", cm, 0o644)
}
