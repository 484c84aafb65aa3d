package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/servicecomb/servicecomb_exporter/alarm"
	"github.com/servicecomb/servicecomb_exporter/forwarder"
	"github.com/servicecomb/servicecomb_exporter/registry"
	"github.com/servicecomb/servicecomb_exporter/source"
)

// fakeSources and fakeAlertmanagers stand in for source.Manager and the
// forwarder: the page's inputs are plain snapshots, built here by hand.
type fakeSources []source.SourceDump

func (f fakeSources) Summaries() []source.SourceDump { return f }

type fakeAlertmanagers []forwarder.AlertmanagerStatus

func (f fakeAlertmanagers) Status() []forwarder.AlertmanagerStatus { return f }

// testSource is a synced etcd source with the given domains, each with two
// projects of three services and UP and DOWN instances.
func testSource(name string, domains ...string) source.SourceDump {
	c := registry.NewCounts()
	var dd []source.DomainDump
	for _, d := range domains {
		c.Domains[d] = struct{}{}
		dom := source.DomainDump{Domain: d}
		for _, p := range []string{"default", "prod"} {
			c.Projects[registry.DomainProject{Domain: d, Project: p}] = struct{}{}
			dom.Projects = append(dom.Projects, source.ProjectDump{Project: p, Services: 3, Instances: map[string]int64{"UP": 5, "DOWN": 1}})
		}
		dd = append(dd, dom)
	}
	return source.SourceDump{
		Snapshot: registry.Snapshot{Source: name, Type: "etcd", Up: true, Synced: true,
			LastSync: time.Now().Add(-3 * time.Second), SyncDuration: registry.Duration(42 * time.Millisecond), Revision: 1234, Counts: c},
		Domains: dd,
	}
}

// newStatusFixture is newFixture with the status page's inputs, for tests
// and benchmarks.
func newStatusFixture(t testing.TB, sources fakeSources, ams fakeAlertmanagers, reload *ReloadStatus) *fixture {
	t.Helper()
	f := &fixture{center: newTestCenter(t)}
	var err error
	f.handler, err = NewHandler(Options{
		Alarms: f.center, Health: alarm.NewHealthChecker(f.center), Metrics: http.NotFoundHandler(),
		Sources: sources, Alertmanagers: ams,
		ReloadStatus: func() ReloadStatus {
			if reload == nil {
				return ReloadStatus{}
			}
			return *reload
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestStatusPage(t *testing.T) {
	many := make([]string, 250)
	for i := range many {
		many[i] = fmt.Sprintf("tenant-%03d", i)
	}
	// The inputs with ages ("2s ago") are built when their case runs, not
	// when the table is: the cases before them can take seconds under -race.
	failedReload := func() *ReloadStatus {
		return &ReloadStatus{File: "/etc/exporter.yml", LastAttempt: time.Now(), Successful: false,
			LastSuccess: time.Now().Add(-time.Hour), LastError: "exporter.yml:7: sources[0].etcd.endpoints: required", Successes: 1, Failures: 2}
	}
	tests := []struct {
		name     string
		sources  fakeSources
		ams      func() fakeAlertmanagers
		reload   func() *ReloadStatus
		setup    func(f *fixture)
		target   string
		contains []string
		excludes []string
	}{
		{name: "healthy, nothing configured", target: "/status",
			contains: []string{`<meta http-equiv="refresh" content="10">`, `class="health ok"`, "<h2>Healthy</h2>",
				"Active alarms (0)", "No registry source is configured.", "No Alertmanager is configured.", "<style>", "Build"},
			excludes: []string{`class="health bad"`, "<script", `src=`, `<link`}},
		{name: "backend down: red health with its reason and the alarm row",
			setup:  raise(alarm.BackendConnectionRefuse, "main: etcd unreachable"),
			target: "/status",
			contains: []string{`class="health bad"`, "<h2>Unhealthy</h2>", `<p id="health-reason">main: etcd unreachable</p>`,
				"Active alarms (1)", `<tr class="alarm active">`, "<td>BackendConnectionRefuse</td><td>exporter</td>",
				`<td class="detail">main: etcd unreachable</td>`, `<td class="num">1</td>`}},
		{name: "raise count and mirrored source",
			setup: func(f *fixture) {
				for range 3 {
					if err := f.center.RaiseFrom("sc-east", "ScAlarm", alarm.Detail("disk full")); err != nil {
						t.Fatal(err)
					}
				}
			},
			target:   "/status",
			contains: []string{"<td>ScAlarm</td><td>sc-east</td>", `<td class="num">3</td>`, `class="health ok"`}},
		{name: "cleared alarm moves to recently cleared",
			setup: func(f *fixture) {
				raise(alarm.BackendConnectionRefuse, "was down")(f)
				f.center.Clear(alarm.BackendConnectionRefuse)
			},
			target:   "/status",
			contains: []string{"Active alarms (0)", `<tr class="alarm cleared">`, `<td class="detail">was down</td>`, `class="health ok"`},
			excludes: []string{`<tr class="alarm active">`}},
		{name: "source facts", sources: fakeSources{testSource("main", "d1", "d2")}, target: "/status",
			contains: []string{"<h3>main <span class=\"muted\">(etcd)</span> <span class=\"badge ok\">UP</span>",
				"42ms", "<td>1234</td>", "2 domains · 4 projects · 12 services · instances: DOWN 4 UP 20",
				"<summary>d1</summary>", "<summary>d2</summary>", "<td>prod</td><td class=\"num\">3</td><td>DOWN 1 UP 5 </td>"}},
		{name: "source down with its error",
			sources: fakeSources{func() source.SourceDump {
				s := testSource("main", "d1")
				s.Up, s.LastError = false, "context deadline exceeded"
				return s
			}()},
			target:   "/status",
			contains: []string{`<span class="badge bad">DOWN</span>`, `<td class="error">context deadline exceeded</td>`}},
		{name: "many domains are capped", sources: fakeSources{testSource("main", many...)}, target: "/status",
			contains: []string{"<summary>tenant-099</summary>", "250 domains; the first 100 are listed, filter to narrow"},
			excludes: []string{"<summary>tenant-100</summary>"}},
		{name: "filter by ?domain=", sources: fakeSources{testSource("main", many...)}, target: "/status?domain=TENANT-24",
			contains: []string{"<summary>tenant-240</summary>", "<summary>tenant-249</summary>", "10 of 250 domains match",
				`value="TENANT-24"`, `<a href="/status">clear filter</a>`, "250 domains · 500 projects"},
			excludes: []string{"<summary>tenant-001</summary>", "<details open>"}},
		{name: "exact domain opens its projects", sources: fakeSources{testSource("main", many...)}, target: "/status?domain=tenant-007",
			contains: []string{"<details open><summary>tenant-007</summary>", "1 of 250 domains match"}},
		{name: "alertmanagers", target: "/status",
			ams: func() fakeAlertmanagers {
				return fakeAlertmanagers{{URL: "http://127.0.0.1:9093", QueueLength: 7, QueueCapacity: 10000, Sent: 40, Errors: 2, Dropped: 3,
					LastSuccess: time.Now().Add(-2 * time.Second), LastError: "connection refused", LastErrorAt: time.Now()}}
			},
			contains: []string{"<td>http://127.0.0.1:9093</td>", "7 / 10000", "2s ago", `connection refused`,
				`<td class="num error">3</td>`}},
		{name: "reload failed", reload: failedReload, target: "/status",
			contains: []string{"/etc/exporter.yml", `<span class="badge bad">FAILED</span>`, "exporter.yml:7: sources[0].etcd.endpoints: required",
				"1 succeeded, 2 failed", "1h0m0s ago"}},
		{name: "landing page links to it", target: "/", contains: []string{`href="/status"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ams fakeAlertmanagers
			var reload *ReloadStatus
			if tt.ams != nil {
				ams = tt.ams()
			}
			if tt.reload != nil {
				reload = tt.reload()
			}
			f := newStatusFixture(t, tt.sources, ams, reload)
			if tt.setup != nil {
				tt.setup(f)
			}
			status, header, body := f.do("GET", tt.target, nil)
			if status != 200 {
				t.Fatalf("status %d: %s", status, body)
			}
			if tt.target != "/" && header.Get("Content-Type") != "text/html; charset=utf-8" {
				t.Errorf("Content-Type %q", header.Get("Content-Type"))
			}
			for _, s := range tt.contains {
				if !strings.Contains(body, s) {
					t.Errorf("page lacks %s:\n%s", s, body)
				}
			}
			for _, s := range tt.excludes {
				if strings.Contains(body, s) {
					t.Errorf("page has %s", s)
				}
			}
		})
	}
}

// TestStatusPageEscapesRegistryValues puts markup into every value that
// comes from a registry or a backend and checks none of it reaches the page
// as markup.
func TestStatusPageEscapesRegistryValues(t *testing.T) {
	const evil = `<script>alert("x")</script>`
	s := testSource(evil, evil, "ok")
	s.Type, s.LastError = evil, evil
	s.Domains[1].Projects[0].Project = evil
	s.Domains[1].Projects[0].Instances[evil] = 1
	f := newStatusFixture(t, fakeSources{s}, fakeAlertmanagers{{URL: evil, LastError: evil}},
		&ReloadStatus{File: evil, LastError: evil})
	if err := f.center.RaiseFrom(evil, alarm.ID(evil), alarm.Detail("%s", evil)); err != nil {
		t.Fatal(err)
	}
	if err := f.center.Raise(alarm.BackendConnectionRefuse, alarm.Detail("%s", evil)); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"/status", "/status?domain=" + strings.ReplaceAll(evil, `"`, "%22")} {
		status, _, body := f.do("GET", target, nil)
		if status != 200 {
			t.Fatalf("%s: status %d", target, status)
		}
		if strings.Contains(body, "<script") || strings.Contains(body, `alert("x")`) {
			t.Errorf("%s: unescaped markup in the page:\n%s", target, body)
		}
		// Each value is on the page, escaped: the domain, the project,
		// the status, the detail and so on.
		if n := strings.Count(body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"); n < 10 {
			t.Errorf("%s: the escaped value appears %d times, want every field (≥ 10)", target, n)
		}
	}
}

func TestStatusPageMethods(t *testing.T) {
	f := newStatusFixture(t, nil, nil, nil)
	if status, _, _ := f.do("POST", "/status", nil); status != http.StatusMethodNotAllowed {
		t.Errorf("POST /status: %d, want 405", status)
	}
	if status, _, _ := f.do("HEAD", "/status", nil); status != 200 {
		t.Errorf("HEAD /status: %d, want 200", status)
	}
}

// BenchmarkStatusPage renders the page for one source with 1,000 domains
// of 5 projects each, and, as the baseline in the same run, the dump's JSON
// of the same summaries.
func BenchmarkStatusPage(b *testing.B) {
	domains := make([]string, 1000)
	for i := range domains {
		domains[i] = fmt.Sprintf("tenant-%04d", i)
	}
	s := testSource("main", domains...)
	for i := range s.Domains {
		for _, p := range []string{"p1", "p2", "p3"} {
			s.Domains[i].Projects = append(s.Domains[i].Projects, source.ProjectDump{Project: p, Services: 2, Instances: map[string]int64{"UP": 4}})
		}
	}
	f := newStatusFixture(b, fakeSources{s}, fakeAlertmanagers{{URL: "http://127.0.0.1:9093"}}, &ReloadStatus{Successful: true})
	for i := range 20 {
		if err := f.center.RaiseFrom(fmt.Sprintf("sc-%d", i), "ScAlarm", alarm.Detail("detail %d", i)); err != nil {
			b.Fatal(err)
		}
	}
	for _, bm := range []struct{ name, target string }{
		{"page", "/status"},
		{"filtered", "/status?domain=tenant-05"},
		{"baseline-dump-json", ""},
	} {
		b.Run(bm.name, func(b *testing.B) {
			var size int
			for b.Loop() {
				if bm.target == "" {
					size = len(mustJSON(b, s))
					continue
				}
				status, _, body := f.do("GET", bm.target, nil)
				if status != 200 {
					b.Fatalf("status %d", status)
				}
				size = len(body)
			}
			b.ReportMetric(float64(size), "bytes/page")
		})
	}
}

func mustJSON(b *testing.B, v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	return data
}
