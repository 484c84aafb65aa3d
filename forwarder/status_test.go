package forwarder

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/servicecomb/servicecomb_exporter/internal/testutil/wait"
)

// TestStatusAgreesWithMetrics checks the status page's view of each
// Alertmanager against the metrics of the same names, through a drop, a
// success and a failure.
func TestStatusAgreesWithMetrics(t *testing.T) {
	ok := httptest.NewServer(&recorder{})
	defer ok.Close()
	failing := httptest.NewServer(&recorder{status: http.StatusBadRequest})
	defer failing.Close()
	cfg := alertingConfig(time.Hour, ok.URL, failing.URL)
	cfg.Alerting.QueueCapacity = 3
	c, f := standalone(t, cfg)
	raiseMany(t, c, 5)
	f.Resend()

	agree := func(s AlertmanagerStatus) {
		t.Helper()
		for name, pair := range map[string][2]float64{
			"queue length": {float64(s.QueueLength), testutil.ToFloat64(f.metrics.queueLength.WithLabelValues(s.URL))},
			"capacity":     {float64(s.QueueCapacity), testutil.ToFloat64(f.metrics.queueCapacity.WithLabelValues(s.URL))},
			"sent":         {float64(s.Sent), testutil.ToFloat64(f.metrics.sent.WithLabelValues(s.URL))},
			"errors":       {float64(s.Errors), testutil.ToFloat64(f.metrics.errors.WithLabelValues(s.URL))},
			"dropped":      {float64(s.Dropped), testutil.ToFloat64(f.metrics.dropped.WithLabelValues(s.URL))},
		} {
			if pair[0] != pair[1] {
				t.Errorf("%s %s: status %v, metric %v", s.URL, name, pair[0], pair[1])
			}
		}
	}
	before := f.Status()
	if len(before) != 2 || !(before[0].URL < before[1].URL) {
		t.Fatalf("status lists %+v, want both Alertmanagers ordered by URL", before)
	}
	for _, s := range before {
		if s.QueueLength != 3 || s.QueueCapacity != 3 || s.Dropped != 2 || !s.LastSuccess.IsZero() || s.LastError != "" {
			t.Errorf("before sending: %+v, want a full queue of 3, 2 dropped, nothing sent", s)
		}
		agree(s)
	}

	runForwarder(t, f)
	byURL := func() map[string]AlertmanagerStatus {
		m := map[string]AlertmanagerStatus{}
		for _, s := range f.Status() {
			m[s.URL] = s
		}
		return m
	}
	wait.For(t, "both queues sent", 5*time.Second, func() bool {
		m := byURL()
		return m[ok.URL].Sent == 3 && m[failing.URL].Errors == 3
	})
	m := byURL()
	if s := m[ok.URL]; s.LastSuccess.IsZero() || s.LastError != "" || s.QueueLength != 0 {
		t.Errorf("working Alertmanager: %+v, want a last success and no error", s)
	}
	if s := m[failing.URL]; !s.LastSuccess.IsZero() || !strings.Contains(s.LastError, "400") || s.LastErrorAt.IsZero() {
		t.Errorf("failing Alertmanager: %+v, want its 400 as last error and no success", s)
	}
	for _, s := range m {
		agree(s)
	}
}
