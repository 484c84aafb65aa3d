package e2e

import (
	"regexp"
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
