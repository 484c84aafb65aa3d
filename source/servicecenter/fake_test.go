package servicecenter

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"golang.org/x/time/rate"

	"github.com/servicecomb/servicecomb_exporter/config"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/loopback"
)

// fixture is a recorded response: its status (from the .headers file
// beside it, 200 when there is none) and body, replayed byte for byte.
type fixture struct {
	status int
	body   []byte
}

func loadFixture(t testing.TB, name string) fixture {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	f := fixture{status: http.StatusOK, body: body}
	if h, err := os.ReadFile(filepath.Join("testdata", name+".headers")); err == nil {
		// "HTTP/1.1 400 Bad Request"
		fields := strings.Fields(strings.SplitN(string(h), "\n", 2)[0])
		if len(fields) < 2 {
			t.Fatalf("%s.headers: no status line", name)
		}
		if f.status, err = strconv.Atoi(fields[1]); err != nil {
			t.Fatalf("%s.headers: %v", name, err)
		}
	}
	return f
}

func (f fixture) handler() http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(f.status)
		_, _ = w.Write(f.body)
	}
}

func status(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}
}

// fakeSC is a Service Center replaying recorded responses. Routes are
// keyed by path (the dump's query must be options=cache); they can be
// replaced between polls. With a username set it enforces RBAC.
type fakeSC struct {
	t   testing.TB
	srv *httptest.Server

	mu     sync.Mutex
	routes map[string]http.HandlerFunc
	hits   map[string]int

	// RBAC, as Service Center's: health and version need no token; the
	// others need a valid one. Failed logins are limited per account as
	// server/service/rbac/blocker.go does (a rate.Limiter of burst 2, one
	// every 15 minutes); the failure it refuses bans the account for 15
	// minutes, during which every login answers 403201.
	user, password string
	tokenExp       func() string    // the exp claim of the next token ("" for none)
	now            func() time.Time // Service Center's clock
	valid          map[string]bool
	logins         int         // successful logins
	attempts       []time.Time // every login, when it arrived
	failed         int         // failed logins (wrong password or blocked)
	limiters       map[string]*rate.Limiter
	bannedUntil    map[string]time.Time
	bans           int
	forbid         string   // when set, API requests answer 403 with this body
	bearers        []string // Authorization headers seen on dump and alarms requests
	nextToken      int
}

// newFakeSC serves the 03-steady recording.
func newFakeSC(t testing.TB) *fakeSC {
	f := &fakeSC{t: t, hits: map[string]int{}, valid: map[string]bool{}, now: time.Now,
		limiters: map[string]*rate.Limiter{}, bannedUntil: map[string]time.Time{}}
	f.routes = map[string]http.HandlerFunc{
		pathDump:    loadFixture(t, "03-steady/dump_cache").handler(),
		pathAlarms:  loadFixture(t, "03-steady/alarms").handler(),
		pathHealth:  loadFixture(t, "03-steady/health").handler(),
		pathVersion: loadFixture(t, "03-steady/version").handler(),
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSC) URL() string { return f.srv.URL }

func (f *fakeSC) set(path string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[path] = h
}

func (f *fakeSC) hitCount(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[path]
}

func (f *fakeSC) serve(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if r.URL.RawQuery != "" {
		path += "?" + r.URL.RawQuery
	}
	f.mu.Lock()
	f.hits[path]++
	if path == pathToken {
		f.mu.Unlock()
		f.serveToken(w, r)
		return
	}
	if path == pathDump && r.Header.Get("X-Domain-Name") != "default" {
		f.mu.Unlock()
		w.WriteHeader(http.StatusOK) // Service Center's quirk: 200, empty body
		return
	}
	if f.user != "" && path != pathHealth && path != pathVersion {
		auth := r.Header.Get("Authorization")
		f.bearers = append(f.bearers, auth)
		if !f.valid[strings.TrimPrefix(auth, "Bearer ")] {
			f.mu.Unlock()
			status(http.StatusUnauthorized, `{"errorCode":"401201","errorMessage":"Request unauthorized","detail":"token is invalid"}`)(w, r)
			return
		}
		if f.forbid != "" {
			body := f.forbid
			f.mu.Unlock()
			status(http.StatusForbidden, body)(w, r)
			return
		}
	}
	h := f.routes[path]
	f.mu.Unlock()
	if h == nil {
		http.NotFound(w, r)
		return
	}
	h(w, r)
}

func (f *fakeSC) serveToken(w http.ResponseWriter, r *http.Request) {
	var req struct{ Name, Password string }
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil {
		status(http.StatusBadRequest, `{"errorCode":"400001"}`)(w, r)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	f.attempts = append(f.attempts, now)
	if until, ok := f.bannedUntil[req.Name]; ok && !now.After(until) {
		f.failed++
		status(http.StatusForbidden, `{"errorCode":"403201","errorMessage":"Account blocked"}`)(w, r)
		return
	}
	if f.user == "" || req.Name != f.user || req.Password != f.password {
		f.failed++
		l := f.limiters[req.Name]
		if l == nil {
			l = rate.NewLimiter(rate.Every(15*time.Minute), 2)
			f.limiters[req.Name] = l
		}
		if !l.AllowN(now, 1) {
			f.bannedUntil[req.Name] = now.Add(15 * time.Minute)
			f.bans++
		}
		status(http.StatusUnauthorized, `{"errorCode":"401202","errorMessage":"User name or password is wrong"}`)(w, r)
		return
	}
	f.logins++
	f.nextToken++
	claims := fmt.Sprintf(`{"account":%q,"n":%d`, req.Name, f.nextToken)
	if f.tokenExp != nil {
		if exp := f.tokenExp(); exp != "" {
			claims += `,"exp":` + exp
		}
	}
	claims += "}"
	enc := base64.RawURLEncoding.EncodeToString
	tok := enc([]byte(`{"alg":"RS512","typ":"JWT"}`)) + "." + enc([]byte(claims)) + ".c2lnbmF0dXJl"
	f.valid[tok] = true
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_, _ = fmt.Fprintf(w, `{"token":%q}`, tok)
}

// revokeTokens makes every issued token answer 401, as after a Service
// Center restart with a new key.
func (f *fakeSC) revokeTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.valid = map[string]bool{}
}

// closedURL returns the URL of a port nothing listens on.
func closedURL(t testing.TB) string {
	return "http://" + loopback.FreeAddress(t)
}

// statusRecorder is a StatusReporter that remembers the reports.
type statusRecorder struct {
	mu     sync.Mutex
	down   bool
	detail string
	downs  int
	ups    int
}

func (r *statusRecorder) SourceDown(_, detail string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down, r.detail = true, detail
	r.downs++
}

func (r *statusRecorder) SourceUp(string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = false
	r.ups++
}

func (r *statusRecorder) get() (down bool, detail string, downs, ups int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.down, r.detail, r.downs, r.ups
}

func scConfig(endpoints ...string) config.ServiceCenterConfig {
	c := config.DefaultServiceCenterConfig()
	c.Endpoints = endpoints
	c.PollInterval = model.Duration(time.Hour)
	c.RequestTimeout = model.Duration(2 * time.Second)
	return c
}

func newSource(t testing.TB, o Options) (*Source, *statusRecorder) {
	t.Helper()
	rec := &statusRecorder{}
	if o.Name == "" {
		o.Name = "sc"
	}
	o.Status = rec
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s, rec
}

func mustPoll(t testing.TB, s *Source) {
	t.Helper()
	if err := s.pollOnce(context.Background()); err != nil {
		t.Fatalf("poll: %v", err)
	}
}

type jsonRaw = json.RawMessage

type configT = config.ServiceCenterConfig

func mustUnmarshal(t testing.TB, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatal(err)
	}
}
