package e2e

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// sourceDownAlert is the rule that must fire while the registry backend is
// down.
const sourceDownAlert = "ServiceCombRegistrySourceDown"

// backendAlert is the alert the exporter forwards to Alertmanager while it
// cannot reach the registry backend (the BackendConnectionRefuse alarm).
const backendAlert = "ServiceCombBackendConnectionRefuse"

// emptyInHealthyRegistry lists, by exact expression as the dashboard has
// it, the dashboard queries that return nothing while everything is
// healthy, with the reason: they filter with a comparison to show trouble.
// Any other query must return data.
var emptyInHealthyRegistry = map[string]string{
	`max by (job, instance, id, source) (servicecomb_alarm_active{job=~"$job", instance=~"$instance"} == 1)`:                                                                                                                                     "no alarm is active once the outage is over (cleared alarms are 0, filtered out by == 1)",
	`1000 * max by (job, instance, id, source) (servicecomb_alarm_last_transition_timestamp_seconds{job=~"$job", instance=~"$instance"} and on (job, instance, id, source) (servicecomb_alarm_active{job=~"$job", instance=~"$instance"} == 1))`: "the activation time of active alarms: none is active once the outage is over",
	// The per-service table lists services without an UP instance: none, in a registry where every service has one.
	`max without (instance, status) (servicecomb_service_instances{job=~"$job", instance=~"$instance", source=~"$source", domain=~"$domain", project=~"$project", app=~"$app", service=~"$service", status="UP"}) == 0`:                                                                                                                                                                                                                                 "services with no UP instance: none while every service has one",
	`servicecomb:service_availability:ratio_1h{job=~"$job", source=~"$source", domain=~"$domain", project=~"$project", app=~"$app", service=~"$service"} and on (job, source, domain, project, environment, app, service, version) (max without (instance, status) (servicecomb_service_instances{job=~"$job", instance=~"$instance", source=~"$source", domain=~"$domain", project=~"$project", app=~"$app", service=~"$service", status="UP"}) == 0)`: "the 1h availability of services with no UP instance: none while every service has one",
	`servicecomb:service_availability:ratio_1d{job=~"$job", source=~"$source", domain=~"$domain", project=~"$project", app=~"$app", service=~"$service"} and on (job, source, domain, project, environment, app, service, version) (max without (instance, status) (servicecomb_service_instances{job=~"$job", instance=~"$instance", source=~"$source", domain=~"$domain", project=~"$project", app=~"$app", service=~"$service", status="UP"}) == 0)`: "the 1d availability of services with no UP instance: none while every service has one",
}

// comparison matches a PromQL comparison operator, which only the
// exempted queries may rely on to return nothing.
var comparison = regexp.MustCompile(`==|!=|>=|<=|[^=!<>]>[^=]|[^=!<>]<[^=]`)

// expectedEmpty reports whether an empty answer to the dashboard expression
// expr (before variable substitution) is expected, and why.
func expectedEmpty(expr string) (string, bool) {
	reason, ok := emptyInHealthyRegistry[expr]
	return reason, ok
}

// TestEmptyExemptionsAreCurrent: every exempted query is in a dashboard and
// filters with a comparison, so that the list cannot hide a query that
// lost its data.
func TestEmptyExemptionsAreCurrent(t *testing.T) {
	inDashboards := map[string]bool{}
	for _, e := range dashboardExpressions(t) {
		inDashboards[e.expr] = true
	}
	for expr := range emptyInHealthyRegistry {
		if !inDashboards[expr] {
			t.Errorf("exempted query is in no dashboard: %s", expr)
		}
		if !comparison.MatchString(expr) {
			t.Errorf("exempted query has no comparison, so it must return data: %s", expr)
		}
	}
}

// pendingIssue11Collector lists, with the reason, the metrics that the
// per-service rules and the ServiceComb / Services dashboard read
// (docs/service-metrics.md) but that the exporter does not expose yet: issue
// #11 shipped its rules before its collectors. TestStack skips exactly these
// names, and the dashboard queries and recording rules built on them, in its
// "exposed" and "returns data" checks, and fails as soon as one of them is
// exposed, so that the list only shrinks. Whoever adds the collectors
// deletes the list (and this comment); both checks then apply to the
// per-service queries too.
var pendingIssue11Collector = map[string]string{
	"servicecomb_registry_instance_registrations_total":   "instance registrations per domain and project: issue #11's watch and poll counting",
	"servicecomb_registry_instance_deregistrations_total": "instance deregistrations per domain and project: issue #11's watch and poll counting",
	"servicecomb_service_center_instances":                "Service Center's own replicas: issue #11's collector",
	"servicecomb_registry_service_usage_ratio":            "service quota usage: issue #11's collector (limits from config)",
	"servicecomb_registry_instance_usage_ratio":           "instance quota usage: issue #11's collector (limits from config)",
}

// pendingNames returns the pending metrics and every recording rule that
// reads one of them, directly or through another recording rule.
func pendingNames(t *testing.T) map[string]bool {
	t.Helper()
	pending := map[string]bool{}
	for name := range pendingIssue11Collector {
		pending[name] = true
	}
	records := map[string]string{}
	for _, rf := range loadRuleFiles(t) {
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					records[r.Record] = r.Expr
				}
			}
		}
	}
	for changed := true; changed; {
		changed = false
		for record, expr := range records {
			if !pending[record] && usesPending(expr, pending) {
				pending[record] = true
				changed = true
			}
		}
	}
	return pending
}

// seriesName matches metric names and recording rule names in PromQL.
var seriesName = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)

// usesPending reports whether expr reads a name of pending.
func usesPending(expr string, pending map[string]bool) bool {
	for _, name := range seriesName.FindAllString(expr, -1) {
		if pending[name] {
			return true
		}
	}
	return false
}

// TestPendingMetricsAreCurrent: every pending metric has a reason, is read
// by a rule or a dashboard and is documented as part of the contract, so
// that the list cannot excuse anything else.
func TestPendingMetricsAreCurrent(t *testing.T) {
	contract, err := os.ReadFile("../docs/service-metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, e := range allExpressions(t) {
		for _, name := range usedMetrics(e.expr) {
			used[name] = true
		}
	}
	for name, reason := range pendingIssue11Collector {
		if strings.TrimSpace(reason) == "" {
			t.Errorf("%s: no reason", name)
		}
		if !used[name] {
			t.Errorf("pending metric %s is read by no rule or dashboard: delete it from the list", name)
		}
		if !strings.Contains(string(contract), "`"+name+"`") {
			t.Errorf("pending metric %s is not in docs/service-metrics.md", name)
		}
	}
	// The closure follows recording rules: the deregistration baseline is
	// pending through servicecomb:registry_instance_deregistrations:rate.
	if _, ok := pendingIssue11Collector["servicecomb_registry_instance_deregistrations_total"]; ok &&
		!pendingNames(t)["servicecomb:registry_instance_deregistrations:rate_baseline"] {
		t.Error("servicecomb:registry_instance_deregistrations:rate_baseline reads a pending metric but is not pending")
	}
}
