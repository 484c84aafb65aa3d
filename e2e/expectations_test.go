package e2e

import "strings"

// sourceDownAlert is the rule that must fire while the registry backend is
// down.
const sourceDownAlert = "ServiceCombRegistrySourceDown"

// emptyInHealthyRegistry lists the dashboard queries that return nothing
// while everything is healthy, with the reason: they show trouble.
var emptyInHealthyRegistry = map[string]string{
	"servicecomb_alarm_active":                             "no alarm is active in a healthy registry (cleared alarms are 0, filtered out by == 1)",
	"servicecomb_notify_events_dropped_total":              "the bus drops nothing in a healthy exporter (the rate is 0, filtered out by > 0)",
	"servicecomb_alertmanager_notifications_dropped_total": "no alert is dropped while Alertmanager keeps up",
	"servicecomb_alertmanager_notifications_errors_total":  "no sending error while Alertmanager is up",
	"servicecomb_registry_decode_errors_total":             "the simulator writes no bad data",
	"servicecomb_exporter_config_reloads_total":            "nothing reloaded the configuration during the test",
}

// expectedEmpty reports whether an empty answer to expr is expected, and
// why. Only queries that filter (comparison operators) may be empty.
func expectedEmpty(expr string) (string, bool) {
	for metric, reason := range emptyInHealthyRegistry {
		if strings.Contains(expr, metric) {
			return reason, true
		}
	}
	return "", false
}
