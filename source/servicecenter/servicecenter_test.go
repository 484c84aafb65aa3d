package servicecenter

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/servicecomb/servicecomb_exporter/alarm"
	"github.com/servicecomb/servicecomb_exporter/config"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/scmetrics"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/wait"
	"github.com/servicecomb/servicecomb_exporter/notify"
	"github.com/servicecomb/servicecomb_exporter/registry"
)

// flatCounts renders counts in the shape of Service Center's gauges.
func flatCounts(c registry.Counts) (services, instances map[string]int64) {
	services, instances = map[string]int64{}, map[string]int64{}
	for g, n := range c.Services {
		services[g.Domain+"/"+g.Project+"/"+g.Framework+"/"+g.FrameworkVersion] += n
	}
	for g, n := range c.Instances {
		instances[g.Domain+"/"+g.Project] += n
	}
	return services, instances
}

func TestCountsMatchServiceCenterGauges(t *testing.T) {
	wantServices, wantInstances, wantDomains := scmetrics.Gauges(t, "testdata/03-steady/metrics.txt")
	withGlobal := func(m map[string]int64, key string, n int64) map[string]int64 {
		m = maps.Clone(m)
		m[key] += n
		return m
	}
	tests := []struct {
		name          string
		excludeGlobal bool
		wantServices  map[string]int64
		wantInstances map[string]int64
	}{
		{"global services excluded, as Service Center's gauges", true, wantServices, wantInstances},
		// SERVICECENTER has no framework and two instances.
		{"global services counted", false,
			withGlobal(wantServices, "default/default/UNKNOWN/UNKNOWN", 1),
			withGlobal(wantInstances, "default/default", 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := newFakeSC(t)
			s, rec := newSource(t, Options{Config: scConfig(sc.URL()), Rules: registry.Rules{ExcludeGlobal: tt.excludeGlobal}})
			mustPoll(t, s)
			snap := s.Snapshot()
			services, instances := flatCounts(snap.Counts)
			if !maps.Equal(services, tt.wantServices) {
				t.Errorf("services = %v, want %v", services, tt.wantServices)
			}
			if !maps.Equal(instances, tt.wantInstances) {
				t.Errorf("instances = %v, want %v", instances, tt.wantInstances)
			}
			if int64(len(snap.Counts.Domains)) != wantDomains {
				t.Errorf("domains = %v, want %d", snap.Counts.Domains, wantDomains)
			}
			wantProjects := map[registry.DomainProject]struct{}{
				{Domain: "default", Project: "default"}: {}, {Domain: "tenant-a", Project: "default"}: {},
				{Domain: "tenant-a", Project: "proj-x"}: {},
			}
			if !maps.Equal(snap.Counts.Projects, wantProjects) {
				t.Errorf("projects = %v, want %v", snap.Counts.Projects, wantProjects)
			}
			if snap.Type != Type || !snap.Up || !snap.Synced || snap.Syncs["success"] != 1 || snap.Syncs["failure"] != 0 ||
				snap.LastSync.IsZero() || snap.LastError != "" || len(snap.WatchEvents) != 0 {
				t.Errorf("snapshot = %+v", snap)
			}
			for kind, n := range snap.DecodeErrors {
				if n != 0 {
					t.Errorf("decode errors of %s = %d, want 0", kind, n)
				}
			}
			if _, _, _, ups := rec.get(); ups != 1 {
				t.Errorf("SourceUp called %d times, want 1", ups)
			}
			eps := s.Endpoints()
			want := []registry.EndpointStatus{{Endpoint: sc.URL(), Healthy: true, Reachable: true, Version: "0.0.1", APIVersion: "4.0.0"}}
			if !slices.Equal(eps, want) {
				t.Errorf("endpoints = %+v, want %+v", eps, want)
			}
		})
	}
}

// TestPerServiceFromTheDump: the REST source gives every counted service
// of the recorded dump its labels and its instances by status (read from
// the fixture with a separate JSON reader when the test was written); the global
// SERVICECENTER is left out as in the counts.
func TestPerServiceFromTheDump(t *testing.T) {
	sc := newFakeSC(t)
	s, _ := newSource(t, Options{Config: scConfig(sc.URL()), Rules: registry.Rules{ExcludeGlobal: true, PerService: true}})
	mustPoll(t, s)
	var got []string
	for _, c := range s.Services().Services {
		i := c.Info()
		got = append(got, fmt.Sprintf("%s/%s app=%s service=%s version=%s env=%s id=%s fw=%s/%s level=%s UP=%d DOWN=%d",
			i.Domain, i.Project, i.App, i.Service, i.Version, i.Environment, i.ServiceID[:8], i.Framework, i.FrameworkVersion, i.Level,
			c.Instances[0], c.Instances[1]))
	}
	slices.Sort(got)
	want := []string{
		`default/default app=demo-app service=gateway version=0.1.0 env= id=680c424c fw=go-chassis/2.7.0 level=BACK UP=1 DOWN=0`,
		`default/default app=demo-app service=legacy-svc version=1.0.0 env= id=78b16fcc fw=UNKNOWN/UNKNOWN level=BACK UP=1 DOWN=0`,
		`default/default app=demo-app service=order-svc version=1.0.0 env= id=1c30ee2d fw=servicecomb-java-chassis/2.8.0 level=BACK UP=3 DOWN=0`,
		`default/default app=demo-app service=payment-svc version=1.2.0 env= id=76f09dcf fw=servicecomb-java-chassis/2.8.0 level=BACK UP=2 DOWN=0`,
		`tenant-a/default app=shop service=cart-svc version=2.0.0 env= id=0190a322 fw=servicecomb-java-chassis/2.8.0 level=BACK UP=2 DOWN=0`,
		`tenant-a/default app=shop service=user-svc version=2.0.0 env= id=9f233db9 fw=servicecomb-java-chassis/2.7.5 level=BACK UP=1 DOWN=0`,
		`tenant-a/proj-x app=shop service=search-svc version=3.0.0 env= id=3723105e fw=servicecomb-java-chassis/2.8.0 level=BACK UP=2 DOWN=0`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("per service:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// steadyEntries returns the services and instances of the recorded 03-steady
// dump as JSON array elements, to build variants of it.
func steadyEntries(t testing.TB) (services, instances []string) {
	body := loadFixture(t, "03-steady/dump_cache").body
	var dump struct {
		Cache struct {
			Services  []jsonRaw `json:"services"`
			Instances []jsonRaw `json:"instances"`
		} `json:"cache"`
	}
	mustUnmarshal(t, body, &dump)
	for _, s := range dump.Cache.Services {
		services = append(services, string(s))
	}
	for _, s := range dump.Cache.Instances {
		instances = append(instances, string(s))
	}
	return services, instances
}

func TestParseDump(t *testing.T) {
	services, instances := steadyEntries(t)
	steady := loadFixture(t, "03-steady/dump_cache").body
	wantState, err := parseDump(strings.NewReader(string(steady)), registry.NewLayout(config.DefaultEtcdPrefix), registry.DefaultRules(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := wantState.Counts()
	arr := func(e []string) string { return "[" + strings.Join(e, ",") + "]" }
	half := string(steady[:len(steady)/2])

	tests := []struct {
		name       string
		body       string
		wantErr    string
		wantCounts *registry.Counts // nil: same as the recorded dump
		wantDecode map[registry.Kind]uint64
	}{
		{name: "recorded", body: string(steady)},
		{name: "instances before services",
			body: `{"cache":{"instances":` + arr(instances) + `,"serviceIndexes":[{"key":"/cse-sr/ms/indexes/x","value":"y"}],"services":` + arr(services) + `}}`},
		{name: "unknown fields and arrays skipped",
			body: `{"before":{"a":[1,{"b":[]}]},"cache":{"x":[[{}]],"services":` + arr(services) + `,"y":null,"instances":` + arr(instances) + `},"after":"z"}`},
		{name: "escaped key",
			body: `{"cache":{"services":` + arr(services) + `,"instances":` + arr(append(slices.Clone(instances[1:]),
				strings.Replace(instances[0], `"key":"/cse-sr/inst/`, `"key":"\/cse-sr\/inst\/`, 1))) + `}}`},
		{name: "bad entries counted and skipped",
			body: `{"cache":{"services":` + arr(append(slices.Clone(services),
				`{"key":"/cse-sr/ms/files/default/default","value":{"appId":"a"}}`, // too few segments
				`{"key":"/cse-sr/ms/files/default/default/s1","value":"not an object"}`,
				`{"key":"/cse-sr/inst/files/d/p/s/i","value":{}}`, // not a service key
				`{"key":42,"value":{}}`,
				`"not an entry"`,
			)) + `,"instances":` + arr(append(slices.Clone(instances),
				`{"key":"/cse-sr/inst/files/tenant-a/default/s/i","value":{"status":"SLEEPING"}}`,
				`{"key":"/cse-sr/inst/files/tenant-a/default/s/i2"}`,
			)) + `}}`,
			wantDecode: map[registry.Kind]uint64{registry.KindService: 5, registry.KindInstance: 2}},
		{name: "null arrays", body: `{"cache":{"services":null,"instances":null}}`, wantCounts: ptr(registry.NewCounts())},
		{name: "empty body (Service Center's answer for another domain)", body: "", wantErr: "empty dump"},
		{name: "truncated", body: half, wantErr: "unexpected EOF"},
		{name: "truncated after the root", body: `{"cache":{"services":[]}`, wantErr: "unexpected EOF"},
		{name: "malformed", body: `{"cache":{"services":[{"key":"/cse-sr/ms/files/a/b/c","value":{]}}`, wantErr: "invalid character"},
		{name: "not an object", body: `[]`, wantErr: "unexpected ["},
		{name: "no cache", body: `{}`, wantErr: "no cache"},
		{name: "data after the dump", body: string(steady) + `{}`, wantErr: "data after the dump"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var decode [registry.NumKinds]uint64
			state, err := parseDump(strings.NewReader(tt.body), registry.NewLayout(config.DefaultEtcdPrefix), registry.DefaultRules(),
				func(k registry.Kind, _ []byte, _ error) { decode[k]++ })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantCounts := want
			if tt.wantCounts != nil {
				wantCounts = *tt.wantCounts
			}
			if got := state.Counts(); !countsEqual(got, wantCounts) {
				t.Errorf("counts = %+v, want %+v", got, wantCounts)
			}
			for k := range registry.NumKinds {
				if decode[k] != tt.wantDecode[registry.Kind(k)] {
					t.Errorf("decode errors of %s = %d, want %d", registry.Kind(k), decode[k], tt.wantDecode[registry.Kind(k)])
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func countsEqual(a, b registry.Counts) bool {
	return maps.Equal(a.Domains, b.Domains) && maps.Equal(a.Projects, b.Projects) &&
		maps.Equal(a.Services, b.Services) && maps.Equal(a.Instances, b.Instances) &&
		maps.Equal(a.Orphans, b.Orphans) && maps.Equal(a.Schemas, b.Schemas) && a.ServiceCenter == b.ServiceCenter
}

// newAlarmCenter returns a real alarm center on a running bus.
func newAlarmCenter(t *testing.T) *alarm.Center {
	t.Helper()
	bus := notify.New(nil)
	center, err := alarm.NewCenter(bus, nil, alarm.WithQueue(notify.DefaultQueueSize, 0))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = bus.Run(ctx); close(done) }()
	t.Cleanup(func() { center.Close(); cancel(); <-done })
	return center
}

func listAlarms(c *alarm.Center) []string {
	var out []string
	for _, a := range c.List() {
		out = append(out, fmt.Sprintf("%s@%s %s %s", a.ID, a.Source, a.Status, a.Detail()))
	}
	return out
}

func TestAlarmMirroring(t *testing.T) {
	scA, scB := newFakeSC(t), newFakeSC(t)
	center := newAlarmCenter(t)
	// An alarm of the exporter itself and one mirrored from another Service
	// Center are never touched.
	if err := center.Raise(alarm.InternalError, alarm.Detail("own")); err != nil {
		t.Fatal(err)
	}
	if err := center.RaiseFrom(scB.URL(), "Other", alarm.Detail("of b")); err != nil {
		t.Fatal(err)
	}
	s, _ := newSource(t, Options{Config: scConfig(scA.URL(), scB.URL()), Alarms: center})
	a := scA.URL()
	const internal = `{"errorCode":"500003","errorMessage":"Internal server error","detail":"rpc error: code = Canceled desc = grpc: the client connection is closing"}`
	keep := []string{"InternalError@ ACTIVATED own", "Other@" + scB.URL() + " ACTIVATED of b"}
	steps := []struct {
		name    string
		fixture string
		want    []string
	}{
		{"none", "03-steady/alarms", keep},
		{"raised while etcd is down", "02-alarm-etcd-down/alarms_while_down",
			append([]string{"BackendConnectionRefuse@" + a + " ACTIVATED context deadline exceeded"}, keep...)},
		{"listed as cleared after recovery", "02-alarm-etcd-down/alarms_after_recover",
			append([]string{"BackendConnectionRefuse@" + a + " CLEARED context deadline exceeded"}, keep...)},
		{"internal error raised next to the cleared one", "05-clear-alarms/alarms_before_delete",
			append([]string{"BackendConnectionRefuse@" + a + " CLEARED context deadline exceeded",
				"InternalError@" + a + " ACTIVATED " + internal}, keep...)},
		{"gone after DELETE", "05-clear-alarms/alarms_after_delete",
			append([]string{"BackendConnectionRefuse@" + a + " CLEARED context deadline exceeded",
				"InternalError@" + a + " CLEARED " + internal}, keep...)},
	}
	for _, st := range steps {
		scA.set(pathAlarms, loadFixture(t, st.fixture).handler())
		mustPoll(t, s)
		got := listAlarms(center)
		slices.Sort(got)
		want := slices.Sorted(slices.Values(st.want))
		if !slices.Equal(got, want) {
			t.Errorf("%s: alarms =\n%s\nwant\n%s", st.name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	// The fields are mirrored as Service Center sent them.
	if al, ok := center.Get(a, alarm.BackendConnectionRefuse); !ok || string(al.Fields["detail"]) != `"context deadline exceeded"` {
		t.Errorf("mirrored alarm = %+v", al)
	}
}

func TestAlarmsFailureFailsPoll(t *testing.T) {
	sc := newFakeSC(t)
	s, _ := newSource(t, Options{Config: scConfig(sc.URL()), Alarms: newAlarmCenter(t)})
	sc.set(pathAlarms, status(http.StatusInternalServerError, `{"errorCode":"500003"}`))
	if err := s.pollOnce(context.Background()); err == nil || !strings.Contains(err.Error(), "alarms: HTTP status 500") {
		t.Fatalf("poll err = %v", err)
	}
}

func TestToken(t *testing.T) {
	const user, password = "root", "s3cr3t-Pa55"
	type env struct {
		sc    *fakeSC
		s     *Source
		clock *time.Time // the source's clock
	}
	tests := []struct {
		name   string
		exp    time.Duration // lifetime of issued tokens; 0: no exp claim
		steps  func(t *testing.T, e env)
		logins int
	}{
		{name: "obtained once and sent as Bearer on every request", exp: time.Hour, logins: 1,
			steps: func(t *testing.T, e env) {
				mustPoll(t, e.s)
				mustPoll(t, e.s)
				e.sc.mu.Lock()
				defer e.sc.mu.Unlock()
				// dump and alarms per poll (health and version need none).
				if len(e.sc.bearers) != 4 {
					t.Errorf("%d authorized requests, want 4", len(e.sc.bearers))
				}
				for _, b := range e.sc.bearers {
					if !strings.HasPrefix(b, "Bearer ") || !e.sc.valid[strings.TrimPrefix(b, "Bearer ")] {
						t.Errorf("Authorization = %q", b)
					}
				}
			}},
		{name: "renewed when less than a quarter of its lifetime remains", exp: 4 * time.Minute, logins: 2,
			steps: func(t *testing.T, e env) {
				mustPoll(t, e.s)
				*e.clock = e.clock.Add(2 * time.Minute) // half left: kept
				mustPoll(t, e.s)
				if e.sc.logins != 1 {
					t.Errorf("token renewed with half of its lifetime left")
				}
				*e.clock = e.clock.Add(90 * time.Second) // 30 s of 4 min left
				mustPoll(t, e.s)
			}},
		{name: "without exp, assumed to last 30 minutes", logins: 2,
			steps: func(t *testing.T, e env) {
				mustPoll(t, e.s)
				if e.s.token.lifetime != defaultTokenLifetime {
					t.Errorf("lifetime = %v", e.s.token.lifetime)
				}
				*e.clock = e.clock.Add(22 * time.Minute)
				mustPoll(t, e.s)
				*e.clock = e.clock.Add(2 * time.Minute) // 6 of 30 min left
				mustPoll(t, e.s)
			}},
		{name: "renewed once on 401, the request retried", exp: time.Hour, logins: 2,
			steps: func(t *testing.T, e env) {
				mustPoll(t, e.s)
				e.sc.revokeTokens()
				mustPoll(t, e.s)
				if snap := e.s.Snapshot(); snap.Syncs["success"] != 2 {
					t.Errorf("syncs = %v", snap.Syncs)
				}
			}},
		{name: "wrong password: poll fails without revealing it", exp: time.Hour, logins: 0,
			steps: func(t *testing.T, e env) {
				e.sc.mu.Lock()
				e.sc.password = "other"
				e.sc.mu.Unlock()
				err := e.s.pollOnce(context.Background())
				if err == nil || !strings.Contains(err.Error(), `login of account "root" refused: HTTP 401, errorCode 401202 "User name or password is wrong"`) {
					t.Fatalf("err = %v", err)
				}
				snap := e.s.Snapshot()
				if strings.Contains(snap.LastError, password) || strings.Contains(snap.LastError, "other") || snap.Up {
					t.Errorf("snapshot = %+v", snap)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := newFakeSC(t)
			var mu sync.Mutex
			clock := time.Now()
			exp := time.Time{}
			sc.user, sc.password = user, password
			sc.tokenExp = func() string {
				mu.Lock()
				defer mu.Unlock()
				if tt.exp == 0 {
					return ""
				}
				exp = clock.Add(tt.exp)
				return strconv.FormatInt(exp.Unix(), 10)
			}
			dir := t.TempDir()
			pwFile := filepath.Join(dir, "password")
			if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := scConfig(sc.URL())
			cfg.Username, cfg.PasswordFile = user, pwFile
			s, _ := newSource(t, Options{Config: cfg, now: func() time.Time {
				mu.Lock()
				defer mu.Unlock()
				return clock
			}})
			tt.steps(t, env{sc: sc, s: s, clock: &clock})
			sc.mu.Lock()
			defer sc.mu.Unlock()
			if sc.logins != tt.logins {
				t.Errorf("%d logins, want %d", sc.logins, tt.logins)
			}
		})
	}
}

func TestFailover(t *testing.T) {
	t.Run("first endpoint closed, second used", func(t *testing.T) {
		sc := newFakeSC(t)
		closed := closedURL(t)
		s, rec := newSource(t, Options{Config: scConfig(closed, sc.URL())})
		mustPoll(t, s)
		eps := s.Endpoints()
		if eps[0].Reachable || eps[0].Healthy || eps[0].Errors == 0 || !eps[1].Healthy || eps[1].Errors != 0 {
			t.Errorf("endpoints = %+v", eps)
		}
		if down, _, _, _ := rec.get(); down {
			t.Error("source reported down")
		}
	})

	t.Run("500 on the first, second used and stuck to", func(t *testing.T) {
		scA, scB := newFakeSC(t), newFakeSC(t)
		scA.set(pathDump, status(http.StatusInternalServerError, `{"errorCode":"500003","errorMessage":"Internal server error"}`))
		s, _ := newSource(t, Options{Config: scConfig(scA.URL(), scB.URL())})
		mustPoll(t, s)
		mustPoll(t, s)
		if n := scA.hitCount(pathDump); n != 1 {
			t.Errorf("first endpoint's dump asked %d times, want 1 (then stuck to the second)", n)
		}
		if n := scB.hitCount(pathDump); n != 2 {
			t.Errorf("second endpoint's dump asked %d times, want 2", n)
		}
		if eps := s.Endpoints(); eps[0].Errors != 1 || eps[1].Errors != 0 {
			t.Errorf("endpoints = %+v", eps)
		}
		// The second fails: back to the first, which works again.
		scA.set(pathDump, loadFixture(t, "03-steady/dump_cache").handler())
		scB.set(pathDump, status(http.StatusBadGateway, ""))
		mustPoll(t, s)
		mustPoll(t, s)
		if a, b := scA.hitCount(pathDump), scB.hitCount(pathDump); a != 3 || b != 3 {
			t.Errorf("dump asked %d and %d times, want 3 and 3", a, b)
		}
	})

	t.Run("unhealthy endpoint tried after healthy ones", func(t *testing.T) {
		scA, scB := newFakeSC(t), newFakeSC(t)
		scA.set(pathHealth, loadFixture(t, "02-alarm-etcd-down/health_while_down").handler())
		s, _ := newSource(t, Options{Config: scConfig(scA.URL(), scB.URL())})
		mustPoll(t, s)
		if a, b := scA.hitCount(pathDump), scB.hitCount(pathDump); a != 0 || b != 1 {
			t.Errorf("dump asked %d and %d times, want 0 and 1", a, b)
		}
		eps := s.Endpoints()
		if eps[0].Healthy || !eps[0].Reachable || eps[0].Errors != 0 || eps[0].Version != "0.0.1" {
			t.Errorf("unhealthy endpoint = %+v", eps[0])
		}
	})

	t.Run("none reachable: down, counts kept", func(t *testing.T) {
		scA := newFakeSC(t)
		scB := newFakeSC(t)
		s, rec := newSource(t, Options{Config: scConfig(scA.URL(), scB.URL()), Rules: registry.Rules{ExcludeGlobal: true}})
		mustPoll(t, s)
		before := s.Snapshot()
		scA.set(pathDump, status(http.StatusServiceUnavailable, "busy"))
		urlB := scB.URL()
		scB.srv.Close()
		if err := s.pollOnce(context.Background()); err == nil {
			t.Fatal("poll succeeded")
		}
		down, detail, downs, _ := rec.get()
		if !down || downs != 1 {
			t.Fatalf("down = %v (%d reports)", down, downs)
		}
		for _, want := range []string{"servicecenter source sc", scA.URL() + ": dump: HTTP status 503: busy", urlB + ": dump: "} {
			if !strings.Contains(detail, want) {
				t.Errorf("detail %q does not contain %q", detail, want)
			}
		}
		after := s.Snapshot()
		if after.Up || !after.Synced || after.Syncs["failure"] != 1 || after.Syncs["success"] != 1 ||
			after.LastError != detail || !after.LastSync.Equal(before.LastSync) {
			t.Errorf("snapshot = %+v", after)
		}
		if !countsEqual(after.Counts, before.Counts) {
			t.Errorf("counts changed: %+v, want %+v", after.Counts, before.Counts)
		}
	})
}

func TestBadResponsesKeepCounts(t *testing.T) {
	steady := loadFixture(t, "03-steady/dump_cache").body
	release := make(chan struct{})
	tests := []struct {
		name    string
		handler http.HandlerFunc
		wantErr string
	}{
		{"500", loadFixtureHandler(http.StatusInternalServerError, `{"errorCode":"500003","errorMessage":"Internal server error"}`), "HTTP status 500"},
		{"malformed", loadFixtureHandler(http.StatusOK, `{"cache":{"services":[{"key":"/cse-sr/ms/files/a/b/c","value":{]}}`), "invalid character"},
		{"truncated", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write(steady[:len(steady)*2/3]) // chunked, ends early
		}, "unexpected EOF"},
		{"truncated below its Content-Length", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(steady)))
			_, _ = w.Write(steady[:len(steady)/3])
		}, "unexpected EOF"},
		{"empty 200", loadFixtureHandler(http.StatusOK, ""), "empty dump"},
		{"timeout", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(steady[:100])
			w.(http.Flusher).Flush()
			select { // block beyond the request timeout
			case <-r.Context().Done():
			case <-release:
			}
		}, "context deadline exceeded"},
	}
	defer close(release)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := newFakeSC(t)
			cfg := scConfig(sc.URL())
			cfg.RequestTimeout = model.Duration(300 * time.Millisecond)
			s, rec := newSource(t, Options{Config: cfg, Rules: registry.Rules{ExcludeGlobal: true}})
			mustPoll(t, s)
			before := s.Snapshot()
			sc.set(pathDump, tt.handler)
			err := s.pollOnce(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("poll err = %v, want %q", err, tt.wantErr)
			}
			after := s.Snapshot()
			if !countsEqual(after.Counts, before.Counts) || len(after.Counts.Instances) == 0 {
				t.Errorf("counts = %+v, want %+v", after.Counts, before.Counts)
			}
			if after.Up || !after.Synced || after.Syncs["failure"] != 1 {
				t.Errorf("snapshot = %+v", after)
			}
			if eps := s.Endpoints(); eps[0].Errors != 1 || !eps[0].Healthy {
				t.Errorf("endpoint = %+v", eps[0])
			}
			if down, _, _, _ := rec.get(); !down {
				t.Error("source not reported down")
			}
			// It recovers with the next good dump.
			sc.set(pathDump, loadFixture(t, "03-steady/dump_cache").handler())
			mustPoll(t, s)
			if down, _, _, _ := rec.get(); down || !s.Snapshot().Up {
				t.Error("source still down after a good poll")
			}
		})
	}
}

func loadFixtureHandler(code int, body string) http.HandlerFunc {
	return fixture{status: code, body: []byte(body)}.handler()
}

func TestDecodeErrorsCountedPerPoll(t *testing.T) {
	services, instances := steadyEntries(t)
	body := `{"cache":{"services":[` + strings.Join(services, ",") + `,{"key":"/cse-sr/ms/files/x/y/z","value":"bad"}],"instances":[` +
		strings.Join(instances, ",") + `,{"key":"/cse-sr/inst/files/x/y/z/i","value":{"status":"NOPE"}},{"key":"/cse-sr/inst/files/x","value":{}}]}}`
	sc := newFakeSC(t)
	sc.set(pathDump, loadFixtureHandler(http.StatusOK, body))
	s, _ := newSource(t, Options{Config: scConfig(sc.URL()), Rules: registry.Rules{ExcludeGlobal: true}})
	mustPoll(t, s)
	mustPoll(t, s)
	// A failed poll does not count the bad entries it read.
	sc.set(pathDump, loadFixtureHandler(http.StatusOK, body[:len(body)-3]))
	if err := s.pollOnce(context.Background()); err == nil {
		t.Fatal("truncated dump accepted")
	}
	snap := s.Snapshot()
	want := map[string]uint64{"domain": 0, "project": 0, "service": 2, "instance": 4, "schema": 0, "other": 0}
	if !maps.Equal(snap.DecodeErrors, want) {
		t.Errorf("decode errors = %v, want %v", snap.DecodeErrors, want)
	}
	services2, _ := flatCounts(snap.Counts)
	wantServices, _, _ := scmetrics.Gauges(t, "testdata/03-steady/metrics.txt")
	if !maps.Equal(services2, wantServices) {
		t.Errorf("services = %v", services2)
	}
}

func TestRun(t *testing.T) {
	sc := newFakeSC(t)
	cfg := scConfig(sc.URL())
	cfg.PollInterval = model.Duration(10 * time.Millisecond)
	s, _ := newSource(t, Options{Config: cfg})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	wait.For(t, "three polls", 10*time.Second, func() bool { return s.Snapshot().Syncs["success"] >= 3 })
	// Failing polls are retried with backoff (capped by the poll interval).
	sc.set(pathDump, status(http.StatusInternalServerError, ""))
	wait.For(t, "two failures", 10*time.Second, func() bool { return s.Snapshot().Syncs["failure"] >= 2 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		o       Options
		wantErr string
	}{
		{"no name", Options{Config: scConfig("http://a")}, "empty name"},
		{"password file missing", Options{Name: "x", Config: func() configT {
			c := scConfig("http://a")
			c.Username, c.PasswordFile = "u", filepath.Join(t.TempDir(), "none")
			return c
		}()}, "password_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestCredentialsInURLNotReported(t *testing.T) {
	closed := closedURL(t)
	withPassword := strings.Replace(closed, "http://", "http://user:hunter2@", 1)
	s, rec := newSource(t, Options{Config: scConfig(withPassword)})
	if err := s.pollOnce(context.Background()); err == nil {
		t.Fatal("poll succeeded")
	}
	_, detail, _, _ := rec.get()
	if strings.Contains(detail, "hunter2") || strings.Contains(s.Snapshot().LastError, "hunter2") ||
		strings.Contains(s.Endpoints()[0].Endpoint, "hunter2") {
		t.Errorf("password leaked: %q", detail)
	}
}
