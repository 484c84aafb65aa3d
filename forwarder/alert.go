package forwarder

import (
	"encoding/json"
	"maps"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/models"

	"github.com/servicecomb/servicecomb_exporter/alarm"
)

// Mapping turns alarms into Alertmanager alerts.
type Mapping struct {
	// AlertnamePrefix is put before the alarm id: ServiceComb +
	// BackendConnectionRefuse = ServiceCombBackendConnectionRefuse.
	AlertnamePrefix string
	// Severity overrides the alarm definitions' severities, by alarm id.
	Severity map[string]string
	// ExternalLabels are added to every alert. Nothing else identifies the
	// exporter, so that two exporters in HA send identical alerts and
	// Alertmanager deduplicates them.
	ExternalLabels map[string]string
	// GeneratorURL links back to the exporter's alarms API ("" for none).
	GeneratorURL string
	// ResendInterval sets how long an active alert lives without a resend:
	// endsAt = now + 4 × ResendInterval, as Prometheus does.
	ResendInterval time.Duration
}

// Labels returns the labels of a's alert, which identify it.
func (m Mapping) Labels(a alarm.Alarm, def alarm.Definition) models.LabelSet {
	labels := models.LabelSet{}
	maps.Copy(labels, m.ExternalLabels)
	labels["alertname"] = m.AlertnamePrefix + string(a.ID)
	severity := def.Severity
	if s, ok := m.Severity[string(a.ID)]; ok {
		severity = s
	}
	labels["severity"] = severity
	if a.Source != "" {
		labels["source"] = a.Source
	}
	return labels
}

// Alert returns the alert for a as of now: an active alarm ends
// 4 × ResendInterval from now unless re-sent, a cleared one at its clear
// time.
func (m Mapping) Alert(a alarm.Alarm, def alarm.Definition, now time.Time) *models.PostableAlert {
	annotations := models.LabelSet{}
	for key, raw := range a.Fields {
		annotations[annotationName(key)] = fieldText(raw)
	}
	delete(annotations, alarm.FieldDetail)
	annotations["summary"] = def.Summary
	if d := a.Detail(); d != "" {
		annotations["description"] = d
	}
	endsAt := now.Add(4 * m.ResendInterval)
	if !a.Active() {
		endsAt = a.ClearedAt
	}
	return &models.PostableAlert{
		Alert: models.Alert{
			Labels:       m.Labels(a, def),
			GeneratorURL: strfmt.URI(m.GeneratorURL),
		},
		Annotations: annotations,
		StartsAt:    strfmt.DateTime(a.ActivatedAt),
		EndsAt:      strfmt.DateTime(endsAt),
	}
}

// fieldText shows a field's JSON value as annotation text: strings without
// their quotes, anything else as JSON.
func fieldText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// annotationName makes a field key a valid annotation name: Alertmanager
// refuses a whole batch for one invalid name, and mirrored alarms may carry
// any keys.
func annotationName(key string) string {
	b := []byte(key)
	for i, c := range b {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}
