// Package scmetrics reads Service Center's own registry gauges from a
// recorded /metrics page, so that tests can check the exporter's counts
// against what Service Center itself reported for the same registry.
package scmetrics

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var gauge = regexp.MustCompile(`^service_center_db_(service|instance|domain)_total\{(.*)\} (\d+)$`)

// Gauges returns the services by "domain/project/framework/frameworkVersion",
// the instances by "domain/project" and the number of domains.
func Gauges(t testing.TB, file string) (services, instances map[string]int64, domains int64) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	services, instances = map[string]int64{}, map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := gauge.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		labels := map[string]string{}
		for _, pair := range strings.Split(m[2], ",") {
			k, v, _ := strings.Cut(pair, "=")
			labels[k] = strings.Trim(v, `"`)
		}
		n, err := strconv.ParseInt(m[3], 10, 64)
		if err != nil {
			t.Fatalf("%s: %q: %v", file, sc.Text(), err)
		}
		switch m[1] {
		case "service":
			services[fmt.Sprintf("%s/%s/%s/%s", labels["domain"], labels["project"], labels["framework"], labels["frameworkVersion"])] += n
		case "instance":
			instances[labels["domain"]+"/"+labels["project"]] += n
		case "domain":
			domains = n
		}
	}
	if len(services) == 0 || len(instances) == 0 || domains == 0 {
		t.Fatalf("%s: no Service Center gauges found", file)
	}
	return services, instances, domains
}
