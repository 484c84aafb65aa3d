package servicecenter

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-kit/log/level"
)

// Service Center's REST paths.
const (
	pathToken   = "/v4/token"
	pathDump    = "/v4/default/admin/dump?options=cache"
	pathAlarms  = "/v4/default/admin/alarms"
	pathHealth  = "/v4/default/registry/health"
	pathVersion = "/v4/default/registry/version"
)

// maxSmallBody bounds the bodies read whole (token, alarms, health,
// version); the dump is streamed.
const maxSmallBody = 4 << 20

// defaultTokenLifetime is assumed for a token without an exp claim.
const defaultTokenLifetime = 30 * time.Minute

// token is an RBAC token and when to renew it.
type token struct {
	value    string
	expires  time.Time
	lifetime time.Duration
}

func (t token) fresh(now time.Time) bool {
	return t.value != "" && t.expires.Sub(now) > t.lifetime/4
}

// statusError is an unexpected HTTP status.
type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string {
	if e.body == "" {
		return fmt.Sprintf("HTTP status %d", e.code)
	}
	return fmt.Sprintf("HTTP status %d: %s", e.code, e.body)
}

// maxErrorBody bounds the part of an error answer that is read.
const maxErrorBody = 4096

// newStatusError describes an answer other than 200 to request. A 401 or
// 403 is Service Center refusing the account (or its missing
// credentials): an *authError quoting its errorCode, errorMessage and
// detail.
func (s *Source) newStatusError(ep *endpoint, request string, resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		sc, _ := parseSCError(b)
		return &authError{Endpoint: ep.name, Request: request, Account: s.opts.Config.Username,
			Status: resp.StatusCode, SC: sc}
	}
	return &statusError{code: resp.StatusCode, body: truncate(strings.TrimSpace(string(b)), 256)}
}

// bearer returns the token to send (or "" without RBAC), logging in when
// there is none or it is about to expire. With stale set, the caller's
// token was refused: a new one is obtained unless another request already
// replaced it. Logins go through the source's LoginLimiter.
func (s *Source) bearer(ctx context.Context, ep *endpoint, stale string) (string, error) {
	if s.opts.Config.Username == "" {
		return "", nil
	}
	s.tokenMu.Lock()
	defer s.tokenMu.Unlock()
	if stale == "" && s.token.fresh(s.now()) {
		return s.token.value, nil
	}
	if stale != "" && s.token.value != stale && s.token.value != "" {
		return s.token.value, nil
	}
	t, err := s.login(ctx, ep)
	if err != nil {
		return "", err
	}
	s.token = t
	return t.value, nil
}

// heldToken is the token obtained last, if any, without logging in: for
// the requests Service Center serves without one (health, version).
func (s *Source) heldToken() string {
	s.tokenMu.Lock()
	defer s.tokenMu.Unlock()
	return s.token.value
}

// login obtains a token if the limiter allows an attempt now. Renewing an
// expiring token is an ordinary login: it costs nothing when it succeeds.
func (s *Source) login(ctx context.Context, ep *endpoint) (token, error) {
	account := s.opts.Config.Username
	maxFailures, every := s.loginMaxFailures, s.loginFailureInterval
	if aerr := s.logins.begin(s.cred, account, s.now(), maxFailures, every); aerr != nil {
		return token{}, aerr
	}
	t, charged, err := s.postToken(ctx, ep)
	var refusal *authError
	if errors.As(err, &refusal) && refusal.Request != "login" {
		refusal = nil
	}
	retry := s.logins.end(account, s.now(), maxFailures, every, err == nil, charged, refusal)
	if err != nil {
		if refusal == nil {
			err = fmt.Errorf("obtaining a token: %w", err)
			if charged && !retry.IsZero() {
				err = fmt.Errorf("%w; next login attempt not before %s", err, retry.UTC().Format(time.RFC3339))
			}
		}
		return token{}, err
	}
	return t, nil
}

// postToken sends POST /v4/token. charged reports whether the attempt may
// count as a failure at Service Center: it was refused with a 4xx, or it
// was sent and no answer came back.
func (s *Source) postToken(ctx context.Context, ep *endpoint) (t token, charged bool, err error) {
	body, err := json.Marshal(struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}{s.opts.Config.Username, s.password})
	if err != nil {
		return token{}, false, err
	}
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) },
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.url+pathToken, bytes.NewReader(body))
	if err != nil {
		return token{}, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return token{}, wrote.Load(), err
	}
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		sc, ok := parseSCError(b)
		// Only the code and message are quoted: the detail of a refused
		// login may echo what was sent.
		sc.Detail = ""
		if resp.StatusCode >= 500 {
			if ok {
				return token{}, false, fmt.Errorf("HTTP status %d: errorCode %s %q", resp.StatusCode, sc.Code, sc.Message)
			}
			return token{}, false, &statusError{code: resp.StatusCode}
		}
		return token{}, resp.StatusCode >= 400, &authError{Endpoint: ep.name, Request: "login",
			Account: s.opts.Config.Username, Status: resp.StatusCode, SC: sc}
	}
	var tr struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxSmallBody)).Decode(&tr); err != nil {
		return token{}, false, fmt.Errorf("decoding token: %w", err)
	}
	if tr.Token == "" {
		return token{}, false, errors.New("empty token")
	}
	now := s.now()
	t = token{value: tr.Token, lifetime: defaultTokenLifetime, expires: now.Add(defaultTokenLifetime)}
	if exp, ok := jwtExpiry(tr.Token); ok {
		t.expires = exp
		t.lifetime = max(exp.Sub(now), 0)
	}
	return t, false, nil
}

// jwtExpiry reads the exp claim of a JWT without verifying it.
func jwtExpiry(jwt string) (time.Time, bool) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp *float64 `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Exp == nil {
		return time.Time{}, false
	}
	sec := int64(*claims.Exp)
	return time.Unix(sec, 0), true
}

// get sends GET path to ep within the request timeout, with the header.
// With auth, it sends a token (logging in if needed) and on a 401 renews
// the token and retries once; without, it sends the token it holds, if
// any, and never logs in. The caller reads the body, closes it and then
// calls cancel.
func (s *Source) get(ctx context.Context, ep *endpoint, path string, header http.Header, auth bool) (*http.Response, context.CancelFunc, error) {
	ctx, cancel := context.WithTimeout(ctx, s.requestTimeout)
	var tok string
	if auth {
		var err error
		if tok, err = s.bearer(ctx, ep, ""); err != nil {
			cancel()
			return nil, nil, err
		}
	} else {
		tok = s.heldToken()
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep.url+path, nil)
		if err != nil {
			cancel()
			return nil, nil, err
		}
		for k, v := range header {
			req.Header[k] = v
		}
		req.Header.Set("Accept", "application/json")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := s.client.Do(req)
		if err != nil {
			cancel()
			return nil, nil, err
		}
		if auth && resp.StatusCode == http.StatusUnauthorized && tok != "" && attempt == 0 {
			// Expired (401205) or no longer valid, as after a Service
			// Center restart with new keys: not a failed login.
			drainClose(resp.Body)
			level.Debug(s.opts.Logger).Log("msg", "token refused, renewing it", "endpoint", ep.name)
			if tok, err = s.bearer(ctx, ep, tok); err != nil {
				cancel()
				return nil, nil, err
			}
			continue
		}
		return resp, cancel, nil
	}
}

func drainClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxSmallBody))
	_ = body.Close()
}

// getJSON gets path and decodes a 200 answer into v; another status is a
// *statusError.
func (s *Source) getJSON(ctx context.Context, ep *endpoint, path string, auth bool, v any) error {
	resp, cancel, err := s.get(ctx, ep, path, nil, auth)
	if err != nil {
		return err
	}
	defer cancel()
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return s.newStatusError(ep, "GET "+path, resp)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxSmallBody)).Decode(v); err != nil {
		return fmt.Errorf("decoding %s: %w", path, unexpectedEOF(err))
	}
	return nil
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}
