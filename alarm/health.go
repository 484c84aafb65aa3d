package alarm

import "errors"

// HealthChecker reports the exporter unhealthy while its own
// BackendConnectionRefuse alarm is active, as Service Center's does, and
// while any of its conditions fails: the registry sources' own state, so
// that emptying the alarm list cannot make a down exporter healthy.
// Alarms mirrored from a Service Center (with a source) do not count: that
// Service Center's backend being down is its problem, which the exporter
// reports rather than suffers.
type HealthChecker struct {
	center     *Center
	conditions []Condition
}

// Condition is a health condition besides the alarm: nil when it holds.
type Condition interface {
	Healthy() error
}

// NewHealthChecker returns a checker reading center and conditions.
func NewHealthChecker(center *Center, conditions ...Condition) *HealthChecker {
	return &HealthChecker{center: center, conditions: conditions}
}

// Healthy returns nil when healthy, else the first failing condition's
// error or an error whose text is the alarm's detail.
func (h *HealthChecker) Healthy() error {
	for _, c := range h.conditions {
		if err := c.Healthy(); err != nil {
			return err
		}
	}
	a, ok := h.center.Get("", BackendConnectionRefuse)
	if !ok || !a.Active() {
		return nil
	}
	if d := a.Detail(); d != "" {
		return errors.New(d)
	}
	return errors.New("registry backend connection refused")
}
