package collector

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/servicecomb/servicecomb_exporter/alarm"
	"github.com/servicecomb/servicecomb_exporter/config"
	"github.com/servicecomb/servicecomb_exporter/registry"
)

// The per-service families of docs/service-metrics.md: their names and
// labels are the contract of the mixin's rules and dashboards.
const (
	serviceInstancesName     = Namespace + "_service_instances"
	serviceInfoName          = Namespace + "_service_info"
	serviceSeriesDroppedName = Namespace + "_service_series_dropped"

	serviceInstancesHelp     = "Instances of one service by status; the UP series exists for every exposed service, other statuses only while non-zero."
	serviceInfoHelp          = "Always 1: the labels of one exposed service, for joins."
	serviceSeriesDroppedHelp = "Services left out of the per-service metrics because registry.per_service.max_services was reached; 0 otherwise."
)

// ServiceFamilies are the names of the families ServiceSeries writes,
// which no prometheus.Collector may also expose.
func ServiceFamilies() []string {
	return []string{serviceInstancesName, serviceInfoName, serviceSeriesDroppedName}
}

// ServiceFilter is registry.per_service compiled: which services have
// per-service series. It is applied at scrape time, so a reload changes it
// without restarting any source.
type ServiceFilter struct {
	enabled          bool
	max              int
	include, exclude [4][]*regexp.Regexp // domain, project, app, service
}

// DefaultServiceFilter is the filter of the default configuration.
func DefaultServiceFilter() *ServiceFilter {
	return &ServiceFilter{enabled: true, max: config.DefaultMaxServices}
}

// NewServiceFilter compiles c; the config package has validated it.
func NewServiceFilter(c config.PerServiceConfig) (*ServiceFilter, error) {
	f := &ServiceFilter{enabled: c.Enabled, max: c.MaxServices}
	compile := func(ms config.ServiceMatchers, into *[4][]*regexp.Regexp) error {
		for i, exprs := range [4][]string{ms.Domain, ms.Project, ms.App, ms.Service} {
			for _, expr := range exprs {
				re, err := regexp.Compile("^(?:" + expr + ")$")
				if err != nil {
					return fmt.Errorf("registry.per_service: %w", err)
				}
				into[i] = append(into[i], re)
			}
		}
		return nil
	}
	if err := compile(c.Include, &f.include); err != nil {
		return nil, err
	}
	if err := compile(c.Exclude, &f.exclude); err != nil {
		return nil, err
	}
	return f, nil
}

// keeps reports whether info passes the include and exclude lists.
func (f *ServiceFilter) keeps(info *registry.ServiceInfo) bool {
	values := [4]string{info.Domain, info.Project, info.App, info.Service}
	for i, v := range values {
		if len(f.include[i]) > 0 && !matchesAny(f.include[i], v) {
			return false
		}
		if matchesAny(f.exclude[i], v) {
			return false
		}
	}
	return true
}

func matchesAny(res []*regexp.Regexp, v string) bool {
	for _, re := range res {
		if re.MatchString(v) {
			return true
		}
	}
	return false
}

// AlarmRaiser is what the service series tell about dropped series:
// alarm.Center.
type AlarmRaiser interface {
	RaiseFrom(source string, id alarm.ID, fields ...alarm.Field) error
	ClearFrom(source string, id alarm.ID)
}

// serviceDrops raises ServiceSeriesDropped when a source starts dropping
// services and clears it when it stops: one transition, so one log line
// (the alarm log), per episode rather than per scrape.
type serviceDrops struct {
	alarms   AlarmRaiser
	mu       sync.Mutex
	dropping map[string]bool // by source
}

func (d *serviceDrops) observe(source string, dropped, limit int) {
	if d.alarms == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch was := d.dropping[source]; {
	case dropped > 0 && !was:
		d.dropping[source] = true
		_ = d.alarms.RaiseFrom(source, alarm.ServiceSeriesDropped,
			alarm.Detail("%d services have no per-service series: registry.per_service.max_services is %d", dropped, limit))
	case dropped == 0 && was:
		delete(d.dropping, source)
		d.alarms.ClearFrom(source, alarm.ServiceSeriesDropped)
	}
}

// retain clears the alarm of every source not in present: a source
// removed or renamed while it was dropping services has nothing left to
// clear it at a later scrape.
func (d *serviceDrops) retain(present map[string]bool) {
	if d.alarms == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for source := range d.dropping {
		if !present[source] {
			delete(d.dropping, source)
			d.alarms.ClearFrom(source, alarm.ServiceSeriesDropped)
		}
	}
}

// ServiceSources is what the per-service series read: source.Manager.
type ServiceSources interface {
	ServiceSnapshots() []registry.ServiceSnapshot
}

// ServiceSeries writes the per-service families straight into the
// exposition, one line per series, rather than through a
// prometheus.Collector: client_golang builds a label pair object per label
// of every series at each scrape (or keeps them between scrapes), which at
// 100,000 services cost several hundred MiB (docs/benchmarks.md). A scrape
// holds a few words per service and the line it writes.
type ServiceSeries struct {
	sources ServiceSources
	filter  atomic.Pointer[ServiceFilter]
	drops   serviceDrops
}

// NewServiceSeries returns the per-service series of sources, with the
// default filter. alarms, if not nil, hears when a source has more
// services than the filter's max_services.
func NewServiceSeries(sources ServiceSources, alarms AlarmRaiser) *ServiceSeries {
	s := &ServiceSeries{sources: sources, drops: serviceDrops{alarms: alarms, dropping: map[string]bool{}}}
	s.filter.Store(DefaultServiceFilter())
	return s
}

// SetFilter applies registry.per_service from the next scrape on.
func (s *ServiceSeries) SetFilter(f *ServiceFilter) { s.filter.Store(f) }

// exposedService is one service of a scrape.
type exposedService struct {
	source string
	count  *registry.ServiceCount // in the scrape's ServiceSnapshot
	// bounded holds the labels when the label bounds cut one: nearly
	// never, so nearly no service of a scrape allocates.
	bounded *registry.ServiceInfo
}

// info returns the service's labels, bounded.
func (e *exposedService) info() registry.ServiceInfo {
	if e.bounded != nil {
		return *e.bounded
	}
	return e.count.Info()
}

// WriteFamilies writes the per-service families in the text format, or in
// OpenMetrics when openMetrics (the two differ only in the escaping of HELP
// text, in OpenMetrics' ".0" after a whole value and in the final "# EOF",
// which the caller writes).
func (s *ServiceSeries) WriteFamilies(w io.Writer, openMetrics bool) error {
	f := s.filter.Load()
	var (
		services []exposedService
		dropped  = map[string]int{}
		order    []string // sources, for series_dropped
	)
	snaps := s.sources.ServiceSnapshots()
	total := 0
	for _, snap := range snaps {
		total += len(snap.Services)
	}
	services = make([]exposedService, 0, total)
	present := make(map[string]bool, len(snaps))
	for _, snap := range snaps {
		present[snap.Source] = true
		if !snap.Synced {
			continue
		}
		order = append(order, snap.Source)
		services, dropped[snap.Source] = appendExposed(services, snap, f)
		s.drops.observe(snap.Source, dropped[snap.Source], f.max)
	}
	s.drops.retain(present)
	slices.SortFunc(services, compareExposed)

	bw := bufio.NewWriterSize(w, 32<<10)
	tw := textWriter{w: bw, openMetrics: openMetrics}
	tw.header(serviceInstancesName, serviceInstancesHelp)
	for i := 0; i < len(services); {
		e := &services[i]
		in := e.info()
		var counts [registry.NumStatuses]int64
		for ; i < len(services) && sameInstanceSeries(e.source, &in, &services[i]); i++ {
			for st, n := range services[i].count.Instances {
				counts[st] += int64(n)
			}
		}
		for st, n := range counts {
			if n == 0 && st != 0 { // InstanceStatuses[0] is UP: always there
				continue
			}
			tw.series(serviceInstancesName, n, "app", in.App, "domain", in.Domain, "environment", in.Environment,
				"project", in.Project, "service", in.Service, "source", e.source, "status", registry.InstanceStatuses[st],
				"version", in.Version)
		}
	}
	tw.header(serviceInfoName, serviceInfoHelp)
	for i := range services {
		if i > 0 && compareExposed(services[i-1], services[i]) == 0 {
			continue // one info series for services whose labels the bounds made equal
		}
		e := &services[i]
		in := e.info()
		tw.series(serviceInfoName, 1, "app", in.App, "domain", in.Domain, "environment", in.Environment,
			"framework", in.Framework, "framework_version", in.FrameworkVersion, "level", in.Level,
			"project", in.Project, "service", in.Service, "service_id", in.ServiceID, "source", e.source,
			"version", in.Version)
	}
	tw.header(serviceSeriesDroppedName, serviceSeriesDroppedHelp)
	for _, src := range order {
		tw.series(serviceSeriesDroppedName, int64(dropped[src]), "source", src)
	}
	return bw.Flush()
}

// appendExposed appends the services of snap that f keeps, at most
// f.max of them, and returns how many more it dropped. The kept are the
// first in the order of their labels, so that the same services keep
// their series from one scrape to the next.
func appendExposed(out []exposedService, snap registry.ServiceSnapshot, f *ServiceFilter) ([]exposedService, int) {
	if !f.enabled {
		return out, 0
	}
	start := len(out)
	for i := range snap.Services {
		c := &snap.Services[i]
		info := c.Info()
		if !f.keeps(&info) {
			continue
		}
		e := exposedService{source: snap.Source, count: c}
		if b, cut := boundedInfo(info); cut {
			e.bounded = new(b) // the only allocation a service may cost
		}
		out = append(out, e)
	}
	dropped := 0
	if kept := out[start:]; len(kept) > f.max {
		slices.SortFunc(kept, compareExposed)
		dropped = len(kept) - f.max
		out = out[:start+f.max]
	}
	return out, dropped
}

// boundedInfo returns info with the label bounds applied, and whether
// they changed it (nearly never).
func boundedInfo(info registry.ServiceInfo) (registry.ServiceInfo, bool) {
	cut := false
	for _, p := range []*string{&info.Domain, &info.Project, &info.Environment, &info.App, &info.Service, &info.Version,
		&info.ServiceID, &info.Framework, &info.FrameworkVersion, &info.Level} {
		if len(*p) > MaxLabelValueLength || !utf8.ValidString(*p) {
			*p, _ = truncateLabel(strings.ToValidUTF8(*p, "\uFFFD"))
			cut = true
		}
	}
	return info, cut
}

// compareExposed orders by every label, so that the services that share
// the labels of one series (after the bounds) are next to each other.
func compareExposed(x, y exposedService) int {
	a, b := x.info(), y.info()
	return cmp.Or(cmp.Compare(x.source, y.source), cmp.Compare(a.Domain, b.Domain), cmp.Compare(a.Project, b.Project),
		cmp.Compare(a.App, b.App), cmp.Compare(a.Service, b.Service), cmp.Compare(a.Version, b.Version),
		cmp.Compare(a.Environment, b.Environment), cmp.Compare(a.ServiceID, b.ServiceID),
		cmp.Compare(a.Framework, b.Framework), cmp.Compare(a.FrameworkVersion, b.FrameworkVersion), cmp.Compare(a.Level, b.Level))
}

// sameInstanceSeries reports whether y has the labels of the
// servicecomb_service_instances series of source and a. Service Center's
// index keeps them unique within a project; only the label bounds, or
// registry data written past Service Center, can make two services share
// them, and then their instances are added up: a duplicate series would
// fail the scrape.
func sameInstanceSeries(source string, a *registry.ServiceInfo, y *exposedService) bool {
	if source != y.source {
		return false
	}
	b := y.info()
	return a.Domain == b.Domain && a.Project == b.Project && a.App == b.App &&
		a.Service == b.Service && a.Version == b.Version && a.Environment == b.Environment
}

// textWriter writes families in the Prometheus text format (or
// OpenMetrics), holding no more than the line it writes.
type textWriter struct {
	w           *bufio.Writer
	openMetrics bool
	line        []byte
}

func (t *textWriter) header(name, help string) {
	t.line = append(t.line[:0], "# HELP "...)
	t.line = append(t.line, name...)
	t.line = append(t.line, ' ')
	t.line = appendEscaped(t.line, help, t.openMetrics)
	t.line = append(t.line, "\n# TYPE "...)
	t.line = append(t.line, name...)
	t.line = append(t.line, " gauge\n"...)
	_, _ = t.w.Write(t.line)
}

// series writes name{labels} value; labels are name, value pairs in
// the order of their names, as client_golang writes them.
func (t *textWriter) series(name string, value int64, labels ...string) {
	t.line = append(t.line[:0], name...)
	for i := 0; i < len(labels); i += 2 {
		if i == 0 {
			t.line = append(t.line, '{')
		} else {
			t.line = append(t.line, ',')
		}
		t.line = append(t.line, labels[i]...)
		t.line = append(t.line, '=', '"')
		t.line = appendEscaped(t.line, labels[i+1], true)
		t.line = append(t.line, '"')
	}
	if len(labels) > 0 {
		t.line = append(t.line, '}')
	}
	t.line = append(t.line, ' ')
	t.line = strconv.AppendInt(t.line, value, 10)
	if t.openMetrics {
		t.line = append(t.line, ".0"...) // as client_golang writes a whole float there
	}
	t.line = append(t.line, '\n')
	_, _ = t.w.Write(t.line) // bufio keeps the first error; Flush returns it
}

// appendEscaped escapes a backslash, a newline and, with quotes (label
// values; HELP text in OpenMetrics), a double quote.
func appendEscaped(b []byte, s string, quotes bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, '\\', '\\')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '"' && quotes:
			b = append(b, '\\', '"')
		default:
			b = append(b, c)
		}
	}
	return b
}
