package web

import (
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// extraFamily writes one family of one series, in the format asked for.
type extraFamily struct{}

func (extraFamily) WriteFamilies(w io.Writer, openMetrics bool) error {
	value := "7"
	if openMetrics {
		value = "7.0"
	}
	_, err := io.WriteString(w, "# HELP extra_series An extra family.\n# TYPE extra_series gauge\nextra_series{l=\"v\"} "+value+"\n")
	return err
}

type failingGatherer struct{}

func (failingGatherer) Gather() ([]*dto.MetricFamily, error) {
	return nil, errors.New("collector broke")
}

// TestMetricsHandler: the gatherer's families and the extra ones in one
// exposition, in the negotiated format (OpenMetrics ends with "# EOF"
// after the extra families), gzip when asked, and a failed gather a 500.
func TestMetricsHandler(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "registry_series", Help: "From the registry."})
	g.Set(3)
	reg.MustRegister(g)
	h := MetricsHandler(reg, []FamilyWriter{extraFamily{}}, log.NewNopLogger())
	for _, tc := range []struct {
		name, accept, encoding string
		wantType               expfmt.FormatType
		wantGzip               bool
	}{
		{"no Accept: text", "", "", expfmt.TypeTextPlain, false},
		{"Prometheus 2.x", "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1", "gzip", expfmt.TypeOpenMetrics, true},
		{"protobuf first: text", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,text/plain;version=0.0.4;q=0.5", "deflate, gzip;q=0.5", expfmt.TypeTextPlain, true},
		{"gzip refused", "text/plain", "gzip;q=0, identity", expfmt.TypeTextPlain, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			req.Header.Set("Accept", tc.accept)
			req.Header.Set("Accept-Encoding", tc.encoding)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d", rec.Code)
			}
			format := expfmt.Format(rec.Header().Get("Content-Type"))
			if format.FormatType() != tc.wantType {
				t.Fatalf("Content-Type %q, want format type %v", format, tc.wantType)
			}
			var body io.Reader = rec.Body
			if gzipped := rec.Header().Get("Content-Encoding") == "gzip"; gzipped != tc.wantGzip {
				t.Fatalf("Content-Encoding %q for Accept-Encoding %q", rec.Header().Get("Content-Encoding"), tc.encoding)
			} else if gzipped {
				zr, err := gzip.NewReader(rec.Body)
				if err != nil {
					t.Fatal(err)
				}
				body = zr
			}
			raw, err := io.ReadAll(body)
			if err != nil {
				t.Fatal(err)
			}
			text := string(raw)
			if tc.wantType == expfmt.TypeOpenMetrics {
				var ok bool
				if text, ok = strings.CutSuffix(text, "# EOF\n"); !ok {
					t.Fatalf("OpenMetrics without a final # EOF:\n%s", raw)
				}
				text = strings.ReplaceAll(text, ".0\n", "\n") // OpenMetrics' whole floats, for the text parser
			}
			parser := expfmt.NewTextParser(model.LegacyValidation)
			mfs, err := parser.TextToMetricFamilies(strings.NewReader(text))
			if err != nil {
				t.Fatalf("%v in\n%s", err, raw)
			}
			if v := mfs["registry_series"].GetMetric()[0].GetGauge().GetValue(); v != 3 {
				t.Errorf("registry_series %v, want 3", v)
			}
			if v := mfs["extra_series"].GetMetric()[0].GetGauge().GetValue(); v != 7 {
				t.Errorf("extra_series %v, want 7", v)
			}
		})
	}

	rec := httptest.NewRecorder()
	MetricsHandler(failingGatherer{}, []FamilyWriter{extraFamily{}}, log.NewNopLogger()).
		ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "collector broke") {
		t.Errorf("a failed gather: %d %q, want 500 naming the error", rec.Code, rec.Body.String())
	}
}
