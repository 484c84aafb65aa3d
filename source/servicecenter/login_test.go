package servicecenter

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/common/model"

	"github.com/servicecomb/servicecomb_exporter/alarm"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/logbuf"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/wait"
)

const (
	rbacUser     = "exporter"
	rbacPassword = "R1ght-Pa55word!"
)

// fakeClock is the clock shared by a Source and its fake Service Center.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// rbacSC returns a fake Service Center with RBAC on, its clock, and a
// configuration for it with password (a file, as operators configure it).
func rbacSC(t *testing.T, clock *fakeClock, password string) (*fakeSC, configT) {
	t.Helper()
	sc := newFakeSC(t)
	sc.user, sc.password, sc.now = rbacUser, rbacPassword, clock.Now
	cfg := scConfig(sc.URL())
	cfg.Username = rbacUser
	cfg.PasswordFile = writePassword(t, password)
	return sc, cfg
}

func writePassword(t *testing.T, password string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(f, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func newRBACSource(t *testing.T, cfg configT, clock *fakeClock, o Options) (*Source, *statusRecorder) {
	t.Helper()
	o.Config, o.now = cfg, clock.Now
	return newSource(t, o)
}

func (f *fakeSC) loginAttempts() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.attempts...)
}

func (f *fakeSC) banCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bans
}

// maxInWindow is the most attempts within any window [t, t+w).
func maxInWindow(attempts []time.Time, w time.Duration) int {
	most := 0
	for i := range attempts {
		n := 0
		for _, a := range attempts[i:] {
			if a.Sub(attempts[i]) < w {
				n++
			}
		}
		most = max(most, n)
	}
	return most
}

func TestWrongPasswordNeverBansTheAccount(t *testing.T) {
	clock := newFakeClock()
	sc, cfg := rbacSC(t, clock, "wrong-Pa55word!")
	center := newAlarmCenter(t)
	logs := &logbuf.Buffer{}
	s, rec := newRBACSource(t, cfg, clock, Options{Alarms: center, Logger: log.NewLogfmtLogger(logs)})

	// The setting: a poll every 2 s. 15 minutes of polls make at
	// most 2 logins; Service Center bans on the third failure.
	polls := 0
	for ; polls < 450; polls++ {
		if err := s.pollOnce(context.Background()); err == nil {
			t.Fatal("poll with a wrong password succeeded")
		}
		clock.Add(2 * time.Second)
	}
	if n := len(sc.loginAttempts()); n != 2 {
		t.Fatalf("%d login attempts in 15 minutes of polls, want 2", n)
	}
	// Three hours more (a poll every 10 s, to keep the test short): paced
	// to one per 15 minutes, never banned.
	for ; polls < 450+1080; polls++ {
		_ = s.pollOnce(context.Background())
		clock.Add(10 * time.Second)
	}
	attempts := sc.loginAttempts()
	if n := maxInWindow(attempts, 15*time.Minute); n > 2 {
		t.Errorf("%d login attempts within 15 minutes, want at most 2: %v", n, attempts)
	}
	if len(attempts) < 12 {
		t.Errorf("%d login attempts in 3h15m, want one per 15 minutes after the first two", len(attempts))
	}
	if n := sc.banCount(); n != 0 {
		t.Errorf("Service Center banned the account %d times", n)
	}

	// Said once per attempt, quoting Service Center.
	warned := strings.Count(logs.String(), `level=warn msg="Service Center refused the exporter's credentials"`)
	if warned != len(attempts) {
		t.Errorf("refusal logged %d times at warn for %d attempts", warned, len(attempts))
	}
	if strings.Contains(logs.String(), "wrong-Pa55word") || strings.Contains(logs.String(), "Service Center unreachable") ||
		strings.Contains(logs.String(), "Service Center request failed") {
		t.Errorf("log reveals the password or calls Service Center unreachable:\n%s", logs.String())
	}
	const quoted = `errorCode 401202 "User name or password is wrong"`
	a, ok := center.Get("sc", alarm.AuthenticationFailed)
	if !ok || !a.Active() || a.FieldString("errorCode") != "401202" || a.FieldString("errorMessage") != "User name or password is wrong" ||
		a.FieldString("reason") != reasonWrongCredentials || a.FieldString("account") != rbacUser || !strings.Contains(a.Detail(), quoted) {
		t.Errorf("AuthenticationFailed = %+v", a)
	}
	if snap := s.Snapshot(); snap.Up || !strings.Contains(snap.LastError, quoted) {
		t.Errorf("snapshot: up %v, last error %q", snap.Up, snap.LastError)
	}
	if _, detail, _, _ := rec.get(); !strings.Contains(detail, "authentication failed: ") || !strings.Contains(detail, quoted) {
		t.Errorf("source down detail = %q", detail)
	}
	// Health and version still answer without a token; refused logins
	// count as the endpoint's errors, held-back ones do not.
	if eps := s.Endpoints(); !eps[0].Healthy || eps[0].Version == "" || eps[0].Errors != uint64(len(attempts)) {
		t.Errorf("endpoint = %+v, want healthy, a version and %d errors", eps[0], len(attempts))
	}
}

func TestLoginLimiterConfigurable(t *testing.T) {
	clock := newFakeClock()
	sc, cfg := rbacSC(t, clock, "wrong-Pa55word!")
	cfg.LoginMaxFailures = 1
	cfg.LoginFailureInterval = model.Duration(time.Hour)
	s, _ := newRBACSource(t, cfg, clock, Options{})
	for range 360 { // an hour of polls every 10 s
		_ = s.pollOnce(context.Background())
		clock.Add(10 * time.Second)
	}
	if n := len(sc.loginAttempts()); n != 1 {
		t.Errorf("%d login attempts in an hour with login_max_failures 1 per hour, want 1", n)
	}
	_ = s.pollOnce(context.Background())
	if n := len(sc.loginAttempts()); n != 2 {
		t.Errorf("%d login attempts after an hour, want 2", n)
	}
}

func TestRenewingAnExpiredTokenIsNotAFailure(t *testing.T) {
	clock := newFakeClock()
	sc, cfg := rbacSC(t, clock, rbacPassword)
	// A budget of one failure per day: a renewal counted as one would be
	// held back at the second renewal.
	cfg.LoginMaxFailures = 1
	cfg.LoginFailureInterval = model.Duration(24 * time.Hour)
	sc.tokenExp = func() string { return strconvTime(clock.Now().Add(4 * time.Minute)) }
	s, _ := newRBACSource(t, cfg, clock, Options{})
	for range 10 {
		mustPoll(t, s) // renews the expiring token (except the first time)
		sc.revokeTokens()
		mustPoll(t, s)                            // 401 on the dump: renewed
		clock.Add(3*time.Minute + 30*time.Second) // beyond 3/4 of the token's life
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.logins != 20 || sc.failed != 0 {
		t.Errorf("%d logins, %d failed, want 20 and 0", sc.logins, sc.failed)
	}
}

func strconvTime(t time.Time) string {
	b, _ := json.Marshal(t.Unix())
	return string(b)
}

// reload builds the Source a reload builds for the same configured source:
// it shares the manager's LoginLimiter and adopts its credentials when it
// starts.
func reload(t *testing.T, cfg configT, clock *fakeClock, logins *LoginLimiter, center *alarm.Center) *Source {
	t.Helper()
	s, _ := newRBACSource(t, cfg, clock, Options{Logins: logins, Alarms: center,
		MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	return s
}

func TestReloadWithNewCredentials(t *testing.T) {
	// failTwice runs a source with a wrong password until its logins are
	// held back: Service Center's budget is spent, one more failure bans.
	failTwice := func(t *testing.T) (*fakeSC, configT, *fakeClock, *LoginLimiter, *alarm.Center) {
		clock := newFakeClock()
		sc, cfg := rbacSC(t, clock, "wrong-Pa55word!")
		logins, center := NewLoginLimiter(), newAlarmCenter(t)
		s := reload(t, cfg, clock, logins, center)
		runUntil(t, s, "two refused logins and a held-back poll", func() bool {
			return len(sc.loginAttempts()) == 2 && s.Snapshot().Syncs["failure"] >= 3
		})
		return sc, cfg, clock, logins, center
	}

	t.Run("right password: recovers at once", func(t *testing.T) {
		sc, cfg, clock, logins, center := failTwice(t)
		cfg.PasswordFile = writePassword(t, rbacPassword)
		s := reload(t, cfg, clock, logins, center)
		runUntil(t, s, "the source up", func() bool { return s.Snapshot().Up })
		if n := len(sc.loginAttempts()); n != 3 {
			t.Errorf("%d login attempts, want 3", n)
		}
		if a, _ := center.Get("sc", alarm.AuthenticationFailed); a.Active() {
			t.Errorf("AuthenticationFailed still active: %+v", a)
		}
		if sc.banCount() != 0 {
			t.Error("account banned")
		}
	})

	t.Run("another wrong password: one attempt", func(t *testing.T) {
		sc, cfg, clock, logins, center := failTwice(t)
		cfg.PasswordFile = writePassword(t, "other-Wr0ng-pass")
		s := reload(t, cfg, clock, logins, center)
		runUntil(t, s, "a held-back poll after the attempt", func() bool {
			return len(sc.loginAttempts()) == 3 && s.Snapshot().Syncs["failure"] >= 3
		})
		if n := len(sc.loginAttempts()); n != 3 {
			t.Errorf("%d login attempts, want 3", n)
		}
	})

	t.Run("credentials unchanged (other keys changed): no attempt", func(t *testing.T) {
		sc, cfg, clock, logins, center := failTwice(t)
		cfg.PollInterval = model.Duration(2 * time.Hour)
		s := reload(t, cfg, clock, logins, center)
		runUntil(t, s, "held-back polls", func() bool { return s.Snapshot().Syncs["failure"] >= 3 })
		if n := len(sc.loginAttempts()); n != 2 {
			t.Errorf("%d login attempts, want 2", n)
		}
		if !strings.Contains(s.Snapshot().LastError, `errorCode 401202 "User name or password is wrong"; next login attempt not before`) {
			t.Errorf("last error = %q", s.Snapshot().LastError)
		}
	})
}

// runUntil runs s until cond holds, then stops it.
func runUntil(t *testing.T, s *Source, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()
	wait.For(t, what, 10*time.Second, cond)
}

func TestRefusalsQuoted(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(sc *fakeSC, clock *fakeClock)
		reason string
		code   string
		msg    string
		detail string // in the alarm detail besides the code and message
	}{
		{name: "account blocked", reason: reasonAccountBlocked, code: "403201", msg: "Account blocked",
			setup: func(sc *fakeSC, clock *fakeClock) { sc.bannedUntil[rbacUser] = clock.Now().Add(10 * time.Minute) }},
		{name: "no permission", reason: reasonNoPermission, code: "403205", msg: "No permission(s)",
			detail: "GET /v4/default/admin/dump?options=cache refused for account \"exporter\": HTTP 403",
			setup: func(sc *fakeSC, _ *fakeClock) {
				sc.forbid = `{"errorCode":"403205","errorMessage":"No permission(s)","detail":"role has no permissions[ops:get]"}`
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			sc, cfg := rbacSC(t, clock, rbacPassword)
			tt.setup(sc, clock)
			center := newAlarmCenter(t)
			logs := &logbuf.Buffer{}
			s, _ := newRBACSource(t, cfg, clock, Options{Alarms: center, Logger: log.NewLogfmtLogger(logs)})
			for range 3 {
				if err := s.pollOnce(context.Background()); err == nil {
					t.Fatal("poll succeeded")
				}
			}
			a, _ := center.Get("sc", alarm.AuthenticationFailed)
			if !a.Active() || a.FieldString("reason") != tt.reason || a.FieldString("errorCode") != tt.code ||
				a.FieldString("errorMessage") != tt.msg || !strings.Contains(a.Detail(), tt.detail) {
				t.Errorf("AuthenticationFailed = %+v", a)
			}
			quoted := "errorCode " + tt.code + ` \"` + tt.msg + `\"`
			if !strings.Contains(logs.String(), quoted) {
				t.Errorf("log does not quote %s:\n%s", quoted, logs.String())
			}
			if !strings.Contains(s.Snapshot().LastError, "errorCode "+tt.code) {
				t.Errorf("last error = %q", s.Snapshot().LastError)
			}
			// A good poll clears it.
			sc.mu.Lock()
			sc.forbid = ""
			delete(sc.bannedUntil, rbacUser)
			sc.mu.Unlock()
			clock.Add(time.Hour)
			mustPoll(t, s)
			if a, _ := center.Get("sc", alarm.AuthenticationFailed); a.Active() {
				t.Errorf("AuthenticationFailed still active after a good poll")
			}
		})
	}
}

func TestMissingCredentialsQuoted(t *testing.T) {
	sc := newFakeSC(t)
	sc.user, sc.password = rbacUser, rbacPassword // RBAC on, the exporter has no username
	center := newAlarmCenter(t)
	s, _ := newSource(t, Options{Config: scConfig(sc.URL()), Alarms: center})
	err := s.pollOnce(context.Background())
	if err == nil || !strings.Contains(err.Error(), `refused without credentials: HTTP 401, errorCode 401201 "Request unauthorized"`) {
		t.Fatalf("err = %v", err)
	}
	if a, _ := center.Get("sc", alarm.AuthenticationFailed); a.FieldString("reason") != reasonUnauthorized {
		t.Errorf("AuthenticationFailed = %+v", a)
	}
}

func TestLoginLimiter(t *testing.T) {
	const every = 15 * time.Minute
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a, b := credentials("exporter", "one"), credentials("exporter", "two")
	// step: at (minutes after t0), with cred; "fail", "ok", "lost" (sent,
	// no answer), "refused-unsent" (dial error); want the attempt allowed.
	type step struct {
		at      time.Duration
		cred    string
		adopt   bool
		outcome string
		allowed bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"two failures, then one per interval", []step{
			{0, a, true, "fail", true}, {0, a, false, "fail", true}, {1, a, false, "", false},
			{14, a, false, "", false}, {15, a, false, "fail", true}, {16, a, false, "", false}, {30, a, false, "fail", true},
		}},
		{"successes cost nothing", []step{
			{0, a, true, "ok", true}, {0, a, false, "ok", true}, {0, a, false, "ok", true}, {0, a, false, "fail", true},
			{0, a, false, "fail", true}, {0, a, false, "", false},
		}},
		{"a login lost after it was sent counts, an unsent one does not", []step{
			{0, a, true, "unsent", true}, {0, a, false, "unsent", true}, {0, a, false, "lost", true},
			{0, a, false, "fail", true}, {0, a, false, "", false},
		}},
		{"new credentials: one attempt at once", []step{
			{0, a, true, "fail", true}, {0, a, false, "fail", true}, {1, b, true, "fail", true}, {2, b, false, "", false},
		}},
		{"credentials replaced: the old source may not log in", []step{
			{0, a, true, "ok", true}, {1, b, true, "ok", true}, {2, a, false, "", false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLoginLimiter()
			for i, st := range tt.steps {
				now := t0.Add(st.at * time.Minute)
				if st.adopt {
					l.adopt(st.cred)
				}
				err := l.begin(st.cred, "exporter", now, 2, every)
				if (err == nil) != st.allowed {
					t.Fatalf("step %d: allowed %v, want %v (%v)", i, err == nil, st.allowed, err)
				}
				if err != nil {
					if !err.Deferred {
						t.Errorf("step %d: not marked deferred: %+v", i, err)
					}
					continue
				}
				var refusal *authError
				if st.outcome == "fail" {
					refusal = &authError{Request: "login", Status: 401, SC: scError{Code: scErrUserOrPwdWrong}}
				}
				charged := st.outcome == "fail" || st.outcome == "lost"
				l.end("exporter", now, 2, every, st.outcome == "ok", charged, refusal)
			}
		})
	}
}

// A login counts when it may have reached Service Center: sent without an
// answer (a timeout) it counts; a connection refused does not.
func TestLoginChargedOnlyWhenSent(t *testing.T) {
	t.Run("sent, no answer: counted", func(t *testing.T) {
		var attempts atomic.Int32
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == pathToken {
				attempts.Add(1)
				select { // answer only after the client gave up
				case <-r.Context().Done():
				case <-release:
				}
				return
			}
			http.NotFound(w, r)
		}))
		defer srv.Close()
		defer close(release)
		cfg := scConfig(srv.URL)
		cfg.RequestTimeout = model.Duration(200 * time.Millisecond)
		cfg.Username, cfg.PasswordFile = rbacUser, writePassword(t, rbacPassword)
		s, _ := newRBACSource(t, cfg, newFakeClock(), Options{})
		for range 5 {
			_ = s.pollOnce(context.Background())
		}
		if n := attempts.Load(); n != 2 {
			t.Errorf("%d logins sent, want 2", n)
		}
	})
	t.Run("connection refused: not counted", func(t *testing.T) {
		cfg := scConfig(closedURL(t))
		cfg.Username, cfg.PasswordFile = rbacUser, writePassword(t, rbacPassword)
		s, _ := newRBACSource(t, cfg, newFakeClock(), Options{})
		for i := range 5 {
			err := s.pollOnce(context.Background())
			if err == nil || !strings.Contains(err.Error(), "obtaining a token: ") || !strings.Contains(err.Error(), "connection refused") {
				t.Fatalf("poll %d: err = %v, want the login tried and refused by the network", i, err)
			}
		}
	})
}
