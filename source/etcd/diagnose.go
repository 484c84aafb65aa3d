package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// diagnoseTimeout bounds each endpoint's dial and handshake.
const diagnoseTimeout = time.Second

// withCause adds why etcd cannot be reached to err when err alone does not
// say: gRPC keeps its dial and TLS handshake errors to itself and the
// client only reports that its deadline passed. The endpoints are dialled
// (and, with TLS, handshaken) directly, which names the cause: connection
// refused, a TLS error, a DNS failure. Other errors (authentication
// failed, no leader) already carry their cause and are returned as they are.
func (s *Source) withCause(ctx context.Context, err error) error {
	var resync errResync
	if err == nil || errors.As(err, &resync) || !opaque(err) {
		return err
	}
	if cause := diagnose(ctx, s.opts.Config.Endpoints, s.clientCfg.TLS); cause != "" {
		return fmt.Errorf("%w (%s)", err, cause)
	}
	return err
}

// opaque reports whether err is a timeout or unavailability without cause.
func opaque(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	switch status.Code(errors.Unwrap(err)) {
	case codes.DeadlineExceeded, codes.Unavailable:
		return true
	}
	return strings.Contains(err.Error(), "context deadline exceeded")
}

// diagnose returns the failures of the endpoints that cannot be dialled or
// handshaken, joined with "; ", or "" when every endpoint answers.
func diagnose(ctx context.Context, endpoints []string, tlsCfg *tls.Config) string {
	var causes []string
	for _, e := range endpoints {
		if err := checkEndpoint(ctx, e, tlsCfg); err != nil {
			causes = append(causes, err.Error())
		}
	}
	return strings.Join(causes, "; ")
}

func checkEndpoint(ctx context.Context, endpoint string, tlsCfg *tls.Config) error {
	host := endpoint
	useTLS := tlsCfg != nil
	if u, err := url.Parse(endpoint); err == nil && u.Host != "" {
		host = u.Host
		useTLS = useTLS || u.Scheme == "https"
	}
	ctx, cancel := context.WithTimeout(ctx, diagnoseTimeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", host)
	if err != nil {
		return err // "dial tcp 127.0.0.1:2379: connect: connection refused"
	}
	defer conn.Close()
	if !useTLS {
		return nil
	}
	cfg := &tls.Config{}
	if tlsCfg != nil {
		cfg = tlsCfg.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName, _, _ = net.SplitHostPort(host)
	}
	cfg.NextProtos = []string{"h2"}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("TLS handshake with %s: %w", host, err)
	}
	// With TLS 1.3 the server checks the client certificate after the
	// client's handshake is done, and says so in an alert: read briefly to
	// catch it. A healthy server sends its HTTP/2 settings or nothing.
	_ = tc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	var b [1]byte
	if _, err := tc.Read(b[:]); err != nil {
		if strings.Contains(err.Error(), "remote error") {
			return fmt.Errorf("TLS handshake with %s: %w", host, err)
		}
	}
	return nil
}
