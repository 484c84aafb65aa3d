package e2e

import (
	"testing"

	"github.com/servicecomb/servicecomb_exporter/internal/testutil/amtest"
)

// inAlertmanager reports whether Alertmanager lists alertname as active
// (GET /api/v2/alerts). An API error fails the test: it is not "resolved".
func inAlertmanager(t *testing.T, am *amtest.Alertmanager, alertname string) bool {
	t.Helper()
	alerts, err := am.Alerts()
	if err != nil {
		t.Fatalf("Alertmanager API: %v", err)
	}
	for _, a := range alerts {
		if a.Labels["alertname"] == alertname {
			return true
		}
	}
	return false
}

// resolvedReceived is how many resolved alerts Alertmanager received: at
// least one once the exporter delivered a resolution (an alert that merely
// expired is never received as resolved).
func resolvedReceived(t *testing.T, am *amtest.Alertmanager) float64 {
	t.Helper()
	n, err := am.Metric("alertmanager_alerts_received_total", `status="resolved"`)
	if err != nil {
		t.Fatalf("Alertmanager metrics: %v", err)
	}
	return n
}
