package alarm

import "errors"

// HealthChecker reports the exporter unhealthy while its own
// BackendConnectionRefuse alarm is active, as Service Center's does.
// Alarms mirrored from a Service Center (with a source) do not count: that
// Service Center's backend being down is its problem, which the exporter
// reports rather than suffers.
type HealthChecker struct {
	center *Center
}

// NewHealthChecker returns a checker reading center.
func NewHealthChecker(center *Center) *HealthChecker {
	return &HealthChecker{center: center}
}

// Healthy returns nil when healthy, else an error whose text is the alarm's
// detail.
func (h *HealthChecker) Healthy() error {
	a, ok := h.center.Get("", BackendConnectionRefuse)
	if !ok || !a.Active() {
		return nil
	}
	if d := a.Detail(); d != "" {
		return errors.New(d)
	}
	return errors.New("registry backend connection refused")
}
