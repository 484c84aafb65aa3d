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
	"slices"
	"strings"
	"sync"
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

func newStatusError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	return &statusError{code: resp.StatusCode, body: strings.TrimSpace(string(b))}
}

// bearer returns the token to send (or "" without RBAC), logging in when
// there is none or it is about to expire. With stale set, the caller's
// token was refused: a new one is obtained unless another request already
// replaced it.
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
		return "", fmt.Errorf("obtaining a token: %w", err)
	}
	s.token = t
	return t.value, nil
}

func (s *Source) login(ctx context.Context, ep *endpoint) (token, error) {
	body, err := json.Marshal(struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}{s.opts.Config.Username, s.password})
	if err != nil {
		return token{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.url+pathToken, bytes.NewReader(body))
	if err != nil {
		return token{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return token{}, err
	}
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		// The body of a refused login is not logged: it may echo the request.
		return token{}, &statusError{code: resp.StatusCode}
	}
	var tr struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxSmallBody)).Decode(&tr); err != nil {
		return token{}, fmt.Errorf("decoding token: %w", err)
	}
	if tr.Token == "" {
		return token{}, errors.New("empty token")
	}
	now := s.now()
	t := token{value: tr.Token, lifetime: defaultTokenLifetime, expires: now.Add(defaultTokenLifetime)}
	if exp, ok := jwtExpiry(tr.Token); ok {
		t.expires = exp
		t.lifetime = max(exp.Sub(now), 0)
	}
	return t, nil
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

// get sends GET path to ep within the request timeout, with the token and
// header, and on a 401 renews the token and retries once. The caller reads
// the body, closes it and then calls cancel.
func (s *Source) get(ctx context.Context, ep *endpoint, path string, header http.Header) (*http.Response, context.CancelFunc, error) {
	ctx, cancel := context.WithTimeout(ctx, s.requestTimeout)
	tok, err := s.bearer(ctx, ep, "")
	if err != nil {
		cancel()
		return nil, nil, err
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
		if resp.StatusCode == http.StatusUnauthorized && tok != "" && attempt == 0 {
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
func (s *Source) getJSON(ctx context.Context, ep *endpoint, path string, v any) error {
	resp, cancel, err := s.get(ctx, ep, path, nil)
	if err != nil {
		return err
	}
	defer cancel()
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return newStatusError(resp)
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
	resp, cancel, err := s.get(ctx, ep, pathDump, http.Header{"X-Domain-Name": {"default"}})
	if err != nil {
		return nil, decodeErrs, fmt.Errorf("dump: %w", err)
	}
	defer cancel()
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, decodeErrs, fmt.Errorf("dump: %w", newStatusError(resp))
	}
	onError := func(kind registry.Kind, key []byte, err error) {
		decodeErrs[kind]++
		s.decodeError(kind, key, err, s.decodeErrors[kind].Load()+decodeErrs[kind])
	}
	state, err := parseDump(resp.Body, s.layout, s.opts.ExcludeGlobal, onError)
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
	if err := s.getJSON(ctx, ep, pathAlarms, &list); err != nil {
		return nil, fmt.Errorf("alarms: %w", err)
	}
	return list.Alarms, nil
}

// mirrorAlarms copies the alarm list of one Service Center into the alarm
// center with that Service Center as source: ACTIVATED alarms are raised
// (every poll, which keeps an auto-clearing id such as InternalError active
// while Service Center lists it), CLEARED ones cleared, and active alarms of
// that source that it no longer lists are cleared.
func (s *Source) mirrorAlarms(source string, list []scAlarm) {
	if s.opts.Alarms == nil {
		return
	}
	listed := make(map[alarm.ID]bool, len(list))
	for _, a := range list {
		if a.ID == "" {
			continue
		}
		id := alarm.ID(a.ID)
		listed[id] = true
		switch a.Status {
		case string(alarm.Activated):
			keys := make([]string, 0, len(a.Fields))
			for k := range a.Fields {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			fields := make([]alarm.Field, 0, len(keys))
			for _, k := range keys {
				if k != "" {
					fields = append(fields, alarm.Field{Key: k, Value: a.Fields[k]})
				}
			}
			if err := s.opts.Alarms.RaiseFrom(source, id, fields...); err != nil {
				level.Warn(s.opts.Logger).Log("msg", "cannot mirror Service Center alarm", "endpoint", source, "id", id, "err", err)
			}
		case string(alarm.Cleared):
			s.opts.Alarms.ClearFrom(source, id)
		}
	}
	for _, a := range s.opts.Alarms.List() {
		if a.Source == source && a.Active() && !listed[a.ID] {
			s.opts.Alarms.ClearFrom(source, a.ID)
		}
	}
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
		if verErr = s.getJSON(ctx, ep, pathVersion, &version); verErr != nil && ctx.Err() == nil {
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
// anything else an error.
func (s *Source) health(ctx context.Context, ep *endpoint) (healthy, reachable bool, err error) {
	resp, cancel, err := s.get(ctx, ep, pathHealth, nil)
	if err != nil {
		var se *statusError
		return false, errors.As(err, &se), err // a refused login still got an answer
	}
	defer cancel()
	defer drainClose(resp.Body)
	switch resp.StatusCode {
	case http.StatusOK:
		return true, true, nil
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
		return false, true, newStatusError(resp)
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return strings.TrimSpace(s)
}
