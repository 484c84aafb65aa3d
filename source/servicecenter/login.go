package servicecenter

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log/level"

	"github.com/servicecomb/servicecomb_exporter/alarm"
)

// Service Center's error codes (go-chassis/cari rbac) that the source tells
// apart. Its answer is {"errorCode":"401202","errorMessage":"…","detail":"…"}
// with the HTTP status errorCode/1000.
const (
	scErrUserOrPwdWrong       = "401202" // wrong password or unknown account
	scErrUserOrPwdWrongHalfOn = "401302" // the same, RBAC scope not covering service
	scErrAccountBlocked       = "403201" // banned: 3 failed logins within its window
	scErrNoPermission         = "403205" // the account's roles lack a permission
	scErrTokenExpired         = "401205"
)

// Reasons of an authentication failure, the reason field of the
// AuthenticationFailed alarm.
const (
	reasonWrongCredentials = "wrong_credentials"
	reasonAccountBlocked   = "account_blocked"
	reasonNoPermission     = "no_permission"
	reasonUnauthorized     = "unauthorized"
	reasonLoginRefused     = "login_refused"
)

// scError is Service Center's error body.
type scError struct {
	Code    string
	Message string
	Detail  string
}

// parseSCError reads Service Center's error body; ok is false when b is not
// one. errorCode is a string in Service Center's answers; a number is
// accepted too.
func parseSCError(b []byte) (e scError, ok bool) {
	var body struct {
		Code    json.RawMessage `json:"errorCode"`
		Message string          `json:"errorMessage"`
		Detail  string          `json:"detail"`
	}
	if json.Unmarshal(b, &body) != nil || len(body.Code) == 0 {
		return scError{}, false
	}
	code := string(bytes.Trim(body.Code, `"`))
	if code == "" || code == "null" {
		return scError{}, false
	}
	return scError{Code: truncate(code, 16), Message: truncate(body.Message, 200), Detail: truncate(body.Detail, 200)}, true
}

// authError is a refusal by Service Center of the exporter's credentials or
// their permissions, or a login held back to stay clear of its ban.
type authError struct {
	Endpoint string // who refused ("" when no request was sent)
	Request  string // "login" or "GET <path>"
	Account  string
	Status   int     // HTTP status (0 when no request was sent)
	SC       scError // Service Center's errorCode and errorMessage; the detail only for API requests
	// RetryAt is when the next login may be attempted; zero means now.
	RetryAt time.Time
	// Deferred: the login was not attempted.
	Deferred bool
	// Why is the text of a deferred login without a refusal to quote.
	Why string
	// quiet: only during a reload, while the replaced Source stops: it
	// lost its credentials, or the other one is logging in. Nothing is
	// reported; the poll is retried.
	quiet bool
}

func (e *authError) reason() string {
	switch e.SC.Code {
	case scErrUserOrPwdWrong, scErrUserOrPwdWrongHalfOn:
		return reasonWrongCredentials
	case scErrAccountBlocked:
		return reasonAccountBlocked
	case scErrNoPermission:
		return reasonNoPermission
	}
	switch {
	case e.Request != "login" && e.Status == 403:
		return reasonNoPermission
	case e.Request != "login":
		return reasonUnauthorized
	}
	return reasonLoginRefused
}

func (e *authError) Error() string {
	var b strings.Builder
	b.WriteString("authentication failed: ")
	if e.Why != "" {
		b.WriteString(e.Why)
	} else {
		fmt.Fprintf(&b, "%s: ", e.Endpoint)
		if e.Request == "login" {
			fmt.Fprintf(&b, "login of account %q refused", e.Account)
		} else if e.Account != "" {
			fmt.Fprintf(&b, "%s refused for account %q", e.Request, e.Account)
		} else {
			fmt.Fprintf(&b, "%s refused without credentials", e.Request)
		}
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
		if e.SC.Code != "" {
			fmt.Fprintf(&b, ", errorCode %s %q", e.SC.Code, e.SC.Message)
		}
		if e.SC.Detail != "" {
			fmt.Fprintf(&b, " (%s)", e.SC.Detail)
		}
	}
	if !e.RetryAt.IsZero() {
		fmt.Fprintf(&b, "; next login attempt not before %s", e.RetryAt.UTC().Format(time.RFC3339))
	}
	return b.String()
}

// LoginLimiter paces the failed logins of one configured source, so that
// Service Center never bans its account. Service Center counts failed logins
// per (account, client address) in a token bucket of 2 that refills one
// every 15 minutes, and bans the pair for 15 minutes on the failure the
// bucket refuses (server/service/rbac/blocker.go). The limiter keeps the
// same bucket per account, charged with every login that failed or may
// have failed at Service Center, and attempts a login only while it holds a
// token; successful logins cost nothing, as there.
//
// It outlives the Source: the source manager hands the same limiter to
// every Source it builds for one configured source, so that a reload that
// rebuilds the source does not refill the bucket. New credentials get one
// attempt at once, whatever the bucket holds. The zero value is not usable;
// call NewLoginLimiter.
type LoginLimiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket // by account
	cred    string             // credentials in force: account and password digest
	grant   bool               // new credentials: one attempt whatever the bucket
	busy    bool               // a login is under way
	last    *authError         // the last refusal, quoted while logins are held back
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewLoginLimiter returns a limiter with no history.
func NewLoginLimiter() *LoginLimiter {
	return &LoginLimiter{buckets: map[string]*bucket{}}
}

// credentials identifies an account and password without keeping the
// password.
func credentials(account, password string) string {
	sum := sha256.Sum256([]byte(password))
	return account + "\x00" + hex.EncodeToString(sum[:])
}

// adopt makes cred the credentials in force. Changed credentials get one
// login attempt at once; the account's failures are kept.
func (l *LoginLimiter) adopt(cred string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cred == cred {
		return
	}
	l.grant = l.cred != ""
	l.cred = cred
	l.last = nil
}

// tokens returns the account's bucket as of now.
func (l *LoginLimiter) tokens(account string, now time.Time, max int, every time.Duration) float64 {
	b := l.buckets[account]
	if b == nil {
		return float64(max)
	}
	return min(float64(max), b.tokens+float64(now.Sub(b.at))/float64(every))
}

// next is when the account's bucket holds a token again (zero: now).
// It depends on the bucket only, not on now, so that every poll held back
// quotes the same time; it is rounded up to the second, as it is shown.
func (l *LoginLimiter) next(account string, now time.Time, max int, every time.Duration) time.Time {
	b := l.buckets[account]
	if b == nil || l.tokens(account, now, max, every) >= 1 {
		return time.Time{}
	}
	t := b.at.Add(time.Duration((1 - b.tokens) * float64(every)))
	if r := t.Truncate(time.Second); !r.Equal(t) {
		t = r.Add(time.Second)
	}
	return t
}

// begin asks to attempt a login with cred now. It returns nil, and the
// caller must call end, or the authError that explains why not.
func (l *LoginLimiter) begin(cred, account string, now time.Time, max int, every time.Duration) *authError {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case cred != l.cred:
		return &authError{Account: account, Deferred: true, quiet: true, Why: "the credentials were replaced by a reload"}
	case l.busy:
		return &authError{Account: account, Deferred: true, quiet: true, Why: "another login is under way"}
	}
	if l.grant || l.tokens(account, now, max, every) >= 1 {
		l.grant = false
		l.busy = true
		return nil
	}
	retry := l.next(account, now, max, every)
	if l.last != nil {
		e := *l.last
		e.Deferred, e.RetryAt = true, retry
		return &e
	}
	return &authError{Account: account, Deferred: true, RetryAt: retry,
		Why: fmt.Sprintf("login of account %q held back after %d failed logins", account, max)}
}

// end records the outcome of a login begun at begin: ok when it got a
// token. A charged login (refused, or lost after it was sent) costs
// a token; refusal, when set, gets the time of the next attempt and is
// quoted while logins are held back. It returns that time (zero: now).
func (l *LoginLimiter) end(account string, now time.Time, max int, every time.Duration, ok, charged bool, refusal *authError) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.busy = false
	if charged {
		t := l.tokens(account, now, max, every)
		l.buckets[account] = &bucket{tokens: t - 1, at: now}
	}
	retry := l.next(account, now, max, every)
	switch {
	case refusal != nil:
		refusal.RetryAt = retry
		last := *refusal
		l.last = &last
	case ok:
		l.last = nil // the refusal is over
	}
	// Full buckets carry no history: forget them, so that the map only
	// holds accounts with recent failures.
	for a := range l.buckets {
		if l.tokens(a, now, max, every) >= float64(max) {
			delete(l.buckets, a)
		}
	}
	return retry
}

// authFailed raises AuthenticationFailed with Service Center's answer and
// logs it once per refusal: polls whose login is held back repeat the last
// refusal, which changes nothing.
func (s *Source) authFailed(e *authError) {
	text := e.Error()
	if s.opts.Alarms != nil {
		fields := []alarm.Field{alarm.Detail("%s", text), {Key: "reason", Value: e.reason()}}
		if e.Account != "" {
			fields = append(fields, alarm.Field{Key: "account", Value: e.Account})
		}
		if e.Endpoint != "" {
			fields = append(fields, alarm.Field{Key: "endpoint", Value: e.Endpoint})
		}
		if e.SC.Code != "" {
			fields = append(fields, alarm.Field{Key: "errorCode", Value: e.SC.Code},
				alarm.Field{Key: "errorMessage", Value: e.SC.Message})
		}
		if !e.RetryAt.IsZero() {
			fields = append(fields, alarm.Field{Key: "nextLoginAttempt", Value: e.RetryAt.UTC().Format(time.RFC3339)})
		}
		if err := s.opts.Alarms.RaiseFrom(s.opts.Name, alarm.AuthenticationFailed, fields...); err != nil {
			level.Error(s.opts.Logger).Log("msg", "raising AuthenticationFailed", "err", err)
		}
	}
	lvl := level.Debug
	if text != s.authLogged {
		lvl = level.Warn
		s.authLogged = text
	}
	lvl(s.opts.Logger).Log("msg", "Service Center refused the exporter's credentials", "reason", e.reason(),
		"endpoint", e.Endpoint, "account", e.Account, "status", e.Status, "error_code", e.SC.Code,
		"error_message", e.SC.Message, "err", text)
}

// authSucceeded clears AuthenticationFailed after a successful poll (also
// one raised by the Source this one replaced).
func (s *Source) authSucceeded() {
	if s.authLogged != "" {
		level.Info(s.opts.Logger).Log("msg", "Service Center accepts the exporter's credentials again")
		s.authLogged = ""
	}
	if s.opts.Alarms != nil {
		s.opts.Alarms.ClearFrom(s.opts.Name, alarm.AuthenticationFailed)
	}
}
