package web

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// FamilyWriter writes whole metric families that no gatherer holds,
// straight into the exposition: the per-service series, too many for
// client_golang's per-series objects (collector.ServiceSeries).
type FamilyWriter interface {
	// WriteFamilies writes families in the Prometheus text format, or in
	// OpenMetrics without its final "# EOF" when openMetrics.
	WriteFamilies(w io.Writer, openMetrics bool) error
}

// metricsFormats are the formats /metrics offers, by preference. Protocol
// buffers are left out: the families of a FamilyWriter are only written
// as text, and Prometheus accepts text whatever it asks for first.
var metricsFormats = []expfmt.Format{expfmt.FmtOpenMetrics_1_0_0, expfmt.FmtOpenMetrics_0_0_1, expfmt.FmtText}

// MetricsHandler serves the families of g and then those of extra, in the
// format the scraper asks for (OpenMetrics or text), gzip-compressed when
// it accepts gzip, as promhttp.HandlerFor does for g alone. A failed
// Gather is answered with 500, like promhttp's HTTPErrorOnError, so that
// the scrape fails rather than returning part of the metrics.
func MetricsHandler(g prometheus.Gatherer, extra []FamilyWriter, logger log.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mfs, err := g.Gather()
		if err != nil {
			level.Error(logger).Log("msg", "gathering metrics", "err", err)
			http.Error(w, "An error has occurred while gathering metrics:\n\n"+err.Error(), http.StatusInternalServerError)
			return
		}
		format := expfmt.NegotiateAccept(r.Header, metricsFormats...)
		w.Header().Set("Content-Type", string(format))
		var out io.Writer = w
		if acceptsGzip(r) {
			w.Header().Set("Content-Encoding", "gzip")
			gz := gzip.NewWriter(w)
			defer gz.Close()
			out = gz
		}
		if err := writeExposition(out, format, mfs, extra); err != nil {
			// The header is sent: the scraper sees a cut body and fails.
			level.Error(logger).Log("msg", "writing metrics", "err", err)
		}
	})
}

func writeExposition(w io.Writer, format expfmt.Format, mfs []*dto.MetricFamily, extra []FamilyWriter) error {
	enc := expfmt.NewEncoder(w, format)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return fmt.Errorf("encoding %s: %w", mf.GetName(), err)
		}
	}
	openMetrics := format.FormatType() == expfmt.TypeOpenMetrics
	for _, x := range extra {
		if err := x.WriteFamilies(w, openMetrics); err != nil {
			return err
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		return c.Close() // OpenMetrics' "# EOF"
	}
	return nil
}

// acceptsGzip reports whether the request's Accept-Encoding names gzip
// with a non-zero quality.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if v, err := strconv.ParseFloat(q, 64); err == nil && v == 0 {
				return false
			}
		}
		return true
	}
	return false
}
