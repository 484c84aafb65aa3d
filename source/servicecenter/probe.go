package servicecenter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// errUnhealthy is health's answer 400 / errorCode 400002.
const errCodeUnhealthy = "400002"

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
