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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log/level"

	"github.com/servicecomb/servicecomb_exporter/alarm"
	"github.com/servicecomb/servicecomb_exporter/registry"
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

// errUnhealthy is health's answer 400 / errorCode 400002.
const errCodeUnhealthy = "400002"

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

// fetchRegistry reads and counts the dump of ep. Decode errors are counted
// in the returned array, to be added to the totals only if the poll
// succeeds.
func (s *Source) fetchRegistry(ctx context.Context, ep *endpoint) (*registry.State, [registry.NumKinds]uint64, error) {
	var decodeErrs [registry.NumKinds]uint64
	resp, cancel, err := s.get(ctx, ep, pathDump, http.Header{"X-Domain-Name": {"default"}}, true)
	if err != nil {
		return nil, decodeErrs, fmt.Errorf("dump: %w", err)
	}
	defer cancel()
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, decodeErrs, fmt.Errorf("dump: %w", s.newStatusError(ep, "GET "+pathDump, resp))
	}
	onError := func(kind registry.Kind, key []byte, err error) {
		decodeErrs[kind]++
		s.decodeErrors.Log(s.opts.Logger, kind, key, err, s.decodeErrors.Load(kind)+decodeErrs[kind])
	}
	state, err := parseDump(resp.Body, s.layout, s.opts.rules(), onError)
	if err != nil {
		return nil, decodeErrs, fmt.Errorf("dump: %w", err)
	}
	return state, decodeErrs, nil
}

// scAlarm is one alarm in Service Center's list.
type scAlarm struct {
	Status string                     `json:"status"`
	ID     string                     `json:"id"`
	Fields map[string]json.RawMessage `json:"fields"`
}

func (s *Source) fetchAlarms(ctx context.Context, ep *endpoint) ([]scAlarm, error) {
	var list struct {
		Alarms []scAlarm `json:"alarms"`
	}
	if err := s.getJSON(ctx, ep, pathAlarms, true, &list); err != nil {
		return nil, fmt.Errorf("alarms: %w", err)
	}
	return list.Alarms, nil
}

// mirrorKey names a mirrored alarm: the Service Center (endpoint) and id.
type mirrorKey struct {
	source string
	id     alarm.ID
}

// mirrorAlarms copies the alarm list of one Service Center into the alarm
// center with that Service Center as source. Only real raises reach the
// center, so that the raise count and the quiet period mean something:
//   - an id that does not clear itself is raised whenever the center does
//     not hold it ACTIVATED with the listed fields (first listing, a
//     change of fields, again after a clear or a DELETE on the exporter):
//     Service Center's list is the level;
//   - an id that clears itself after a quiet period (InternalError,
//     WebsocketOfScSyncerLost, which Service Center never clears) is raised
//     only when Service Center lists it anew or with other fields, so it
//     clears once listed unchanged for the quiet period, and comes back
//     only with a new occurrence (new fields) there.
//
// CLEARED ones are cleared, and active alarms of that source that it no
// longer lists are cleared.
func (s *Source) mirrorAlarms(source string, list []scAlarm) {
	if s.opts.Alarms == nil {
		return
	}
	current := map[alarm.ID]alarm.Alarm{}
	for _, a := range s.opts.Alarms.List() {
		if a.Source == source {
			current[a.ID] = a
		}
	}
	listed := make(map[alarm.ID]bool, len(list))
	for _, a := range list {
		id := alarm.ID(a.ID)
		if id == "" || listed[id] {
			continue // Service Center lists an id once
		}
		listed[id] = true
		k := mirrorKey{source: source, id: id}
		switch a.Status {
		case string(alarm.Activated):
			fields, sig := mirroredFields(a.Fields)
			changed := s.mirrored[k] != sig
			s.mirrored[k] = sig
			cur, ok := current[id]
			same := ok && sameFields(cur.Fields, fields)
			if s.opts.Alarms.Definition(id).AutoClearAfter > 0 {
				if !changed || same {
					continue
				}
			} else if same && cur.Active() {
				continue
			}
			if err := s.opts.Alarms.RaiseFrom(source, id, fields...); err != nil {
				level.Warn(s.opts.Logger).Log("msg", "cannot mirror Service Center alarm", "endpoint", source, "id", id, "err", err)
			}
		case string(alarm.Cleared):
			s.mirrored[k] = ""
			if cur, ok := current[id]; ok && cur.Active() {
				s.opts.Alarms.ClearFrom(source, id)
			}
		}
	}
	for id, a := range current {
		if a.Active() && !listed[id] {
			s.opts.Alarms.ClearFrom(source, id)
		}
	}
	for k := range s.mirrored {
		if k.source == source && !listed[k.id] {
			delete(s.mirrored, k)
		}
	}
}

// mirroredFields returns an alarm's fields in key order, values encoded as
// the alarm center stores them, and a signature of them ("" is kept for a
// listing that is not ACTIVATED).
func mirroredFields(raw map[string]json.RawMessage) ([]alarm.Field, string) {
	keys := make([]string, 0, len(raw))
	for k := range raw {
		if k != "" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	fields := make([]alarm.Field, 0, len(keys))
	var sig strings.Builder
	sig.WriteString("ACTIVATED")
	for _, k := range keys {
		// Encoded as the center encodes a field (compacted, HTML escaped:
		// "->" in a detail becomes "-\u003e"), so that sameFields compares
		// like with like.
		v, err := json.Marshal(raw[k])
		if err != nil {
			v = raw[k] // not JSON: RaiseFrom refuses it and says so
		}
		fields = append(fields, alarm.Field{Key: k, Value: json.RawMessage(v)})
		fmt.Fprintf(&sig, "\x00%s\x00%s", k, v)
	}
	return fields, sig.String()
}

// sameFields reports whether the center's fields are the listed ones.
func sameFields(have map[string]json.RawMessage, want []alarm.Field) bool {
	if len(have) != len(want) {
		return false
	}
	for _, f := range want {
		if !bytes.Equal(have[f.Key], f.Value.(json.RawMessage)) {
			return false
		}
	}
	return true
}

// probeAll probes the health and version of every endpoint, concurrently.
func (s *Source) probeAll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, ep := range s.endpoints {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.probe(ctx, ep)
		}()
	}
	wg.Wait()
}

// probe updates ep's status from its health and version.
func (s *Source) probe(ctx context.Context, ep *endpoint) {
	healthy, reachable, err := s.health(ctx, ep)
	if err != nil && ctx.Err() == nil {
		s.endpointFailed(ep, fmt.Errorf("health: %w", err))
	}
	var version struct {
		Version    string `json:"version"`
		APIVersion string `json:"apiVersion"`
	}
	verErr := error(nil)
	if reachable {
		if verErr = s.getJSON(ctx, ep, pathVersion, false, &version); verErr != nil && ctx.Err() == nil {
			s.endpointFailed(ep, fmt.Errorf("version: %w", verErr))
		}
	}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	ep.status.Healthy, ep.status.Reachable = healthy, reachable
	if reachable && verErr == nil {
		ep.status.Version, ep.status.APIVersion = version.Version, version.APIVersion
	}
}

// health asks ep whether it is healthy: 200 is healthy, 400 with errorCode
// 400002 is a reachable but unhealthy Service Center (its backend is down),
// anything else an error. Service Center serves it without a token since
// 2.0; an older one answering 401 is reachable, its health unknown.
func (s *Source) health(ctx context.Context, ep *endpoint) (healthy, reachable bool, err error) {
	resp, cancel, err := s.get(ctx, ep, pathHealth, nil, false)
	if err != nil {
		return false, false, err
	}
	defer cancel()
	defer drainClose(resp.Body)
	switch resp.StatusCode {
	case http.StatusOK:
		return true, true, nil
	case http.StatusUnauthorized:
		return false, true, nil
	case http.StatusBadRequest:
		var body struct {
			ErrorCode string `json:"errorCode"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxSmallBody))
		if json.Unmarshal(b, &body) == nil && body.ErrorCode == errCodeUnhealthy {
			return false, true, nil
		}
		return false, true, &statusError{code: resp.StatusCode, body: truncate(string(b), 256)}
	default:
		return false, true, s.newStatusError(ep, "GET "+pathHealth, resp)
	}
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}
