package web

import (
	"bytes"
	_ "embed"
	"html/template"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/go-kit/log/level"
	"github.com/prometheus/common/version"

	"github.com/servicecomb/servicecomb_exporter/alarm"
	"github.com/servicecomb/servicecomb_exporter/config/reload"
	"github.com/servicecomb/servicecomb_exporter/forwarder"
	"github.com/servicecomb/servicecomb_exporter/source"
)

// SourceSummaries lists the registry sources with their counts per domain
// and project: source.Manager, the same summaries the dump API shows.
type SourceSummaries interface {
	Summaries() []source.SourceDump
}

// AlertmanagerStatuses lists the Alertmanagers alarms are forwarded to:
// forwarder.Forwarder.
type AlertmanagerStatuses interface {
	Status() []forwarder.AlertmanagerStatus
}

// ReloadStatus is the state of configuration loading, from the same record
// as the servicecomb_exporter_config_* metrics.
type ReloadStatus = reload.Status

// Status page limits: the page refreshes itself, and a page that lists
// thousands of domains is neither quick to render nor readable.
const (
	statusRefreshSeconds = 10
	// statusMaxDomains is how many domains a source lists at most; the
	// filter narrows the list to the ones wanted.
	statusMaxDomains = 100
	// statusMaxCleared is how many recently cleared alarms are shown.
	statusMaxCleared = 20
)

var (
	//go:embed status.html
	statusHTML string
	//go:embed status.css
	statusCSS string

	statusTemplate = template.Must(template.New("status").Funcs(template.FuncMap{
		"ago":      ago,
		"duration": roundDuration,
		"stamp":    stamp,
	}).Parse(statusHTML))
)

// statusPage is what the template renders.
type statusPage struct {
	CSS     template.CSS
	Refresh int
	Now     time.Time

	Healthy      bool
	HealthReason string

	Active  []alarmRow
	Cleared []alarmRow
	// ClearedHidden counts cleared alarms beyond statusMaxCleared.
	ClearedHidden int

	Filter        string // the ?domain= filter, as typed
	Sources       []sourceView
	SourcesWired  bool
	Alertmanagers []forwarder.AlertmanagerStatus
	AMWired       bool
	Reload        *ReloadStatus

	Build buildView
}

type alarmRow struct {
	ID         alarm.ID
	Source     string
	Detail     string
	Since      time.Time // activation
	ClearedAt  time.Time
	For        time.Duration // active for (until now, or until cleared)
	RaiseCount uint64
}

type sourceView struct {
	source.SourceDump
	DomainCount   int
	ProjectCount  int
	ServiceCount  int64
	InstanceCount map[string]int64 // by status, over every domain
	Shown         []domainView     // the domains listed, after the filter and the limit
	Matched       int              // domains matching the filter
}

type domainView struct {
	source.DomainDump
	Services  int64
	Instances int64
	// Open expands the projects: when the filter names the domain exactly.
	Open bool
}

type buildView struct {
	Version, Revision, Branch, BuildUser, BuildDate, GoVersion, Platform string
	Hostname                                                             string
	StartTime                                                            time.Time
	Uptime                                                               time.Duration
}

func (a *api) status(w http.ResponseWriter, r *http.Request) {
	page := a.statusPage(time.Now(), r.URL.Query().Get("domain"))
	// Rendered whole before writing, so that a template error is a clean
	// 500 instead of half a page.
	var buf bytes.Buffer
	if err := statusTemplate.Execute(&buf, page); err != nil {
		level.Error(a.Logger).Log("msg", "rendering the status page", "err", err)
		http.Error(w, "rendering the status page failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// statusPage gathers the page from the snapshots the other endpoints use.
func (a *api) statusPage(now time.Time, filter string) statusPage {
	filter = strings.TrimSpace(filter)
	p := statusPage{CSS: template.CSS(statusCSS), Refresh: statusRefreshSeconds, Now: now, Filter: filter, Healthy: true}
	if err := a.Health.Healthy(); err != nil {
		p.Healthy, p.HealthReason = false, err.Error()
	}

	var cleared []alarmRow
	for _, al := range a.Alarms.List() {
		row := alarmRow{ID: al.ID, Source: al.Source, Detail: al.Detail(), Since: al.ActivatedAt, RaiseCount: al.RaiseCount}
		if al.Active() {
			row.For = now.Sub(al.ActivatedAt)
			p.Active = append(p.Active, row)
			continue
		}
		row.ClearedAt, row.For = al.ClearedAt, al.ClearedAt.Sub(al.ActivatedAt)
		cleared = append(cleared, row)
	}
	slices.SortStableFunc(p.Active, func(x, y alarmRow) int { return x.Since.Compare(y.Since) })
	slices.SortStableFunc(cleared, func(x, y alarmRow) int { return y.ClearedAt.Compare(x.ClearedAt) })
	if len(cleared) > statusMaxCleared {
		p.ClearedHidden = len(cleared) - statusMaxCleared
		cleared = cleared[:statusMaxCleared]
	}
	p.Cleared = cleared

	if a.Sources != nil {
		p.SourcesWired = true
		for _, s := range a.Sources.Summaries() {
			p.Sources = append(p.Sources, newSourceView(s, filter))
		}
	}
	if a.Alertmanagers != nil {
		p.AMWired = true
		p.Alertmanagers = a.Alertmanagers.Status()
	}
	if a.ReloadStatus != nil {
		rs := a.ReloadStatus()
		p.Reload = &rs
	}
	host, _ := os.Hostname()
	p.Build = buildView{
		Version: version.Version, Revision: version.Revision, Branch: version.Branch,
		BuildUser: version.BuildUser, BuildDate: version.BuildDate,
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH,
		Hostname: host, StartTime: a.StartTime, Uptime: now.Sub(a.StartTime),
	}
	return p
}

// newSourceView totals a source's domains and picks the ones to list: those
// whose name contains filter (case-insensitively), at most statusMaxDomains.
func newSourceView(s source.SourceDump, filter string) sourceView {
	v := sourceView{SourceDump: s, DomainCount: len(s.Counts.Domains), InstanceCount: map[string]int64{}}
	lower := strings.ToLower(filter)
	for _, d := range s.Domains {
		dv := domainView{DomainDump: d, Open: filter != "" && d.Domain == filter}
		for _, p := range d.Projects {
			dv.Services += p.Services
			for status, n := range p.Instances {
				dv.Instances += n
				v.InstanceCount[status] += n
			}
		}
		v.ProjectCount += len(d.Projects)
		v.ServiceCount += dv.Services
		if filter != "" && !strings.Contains(strings.ToLower(d.Domain), lower) {
			continue
		}
		v.Matched++
		if len(v.Shown) < statusMaxDomains {
			v.Shown = append(v.Shown, dv)
		}
	}
	return v
}

// ago renders how long before now t was: "never" for the zero time.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return roundDuration(now.Sub(t)) + " ago"
}

// roundDuration renders d to the second (to the millisecond below one).
func roundDuration(d time.Duration) string {
	switch {
	case d < 0:
		d = 0
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// stamp renders t in UTC, to the second.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}
