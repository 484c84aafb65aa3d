// Package embedetcd runs a single-node etcd server in-process on loopback,
// for the simulator's --embedded mode and for tests that need a real etcd.
package embedetcd

import (
	"fmt"
	"net/url"
	"sync"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Options configure the server. The zero value listens on a random
// loopback port without TLS or authentication.
type Options struct {
	// Dir holds the data; it must exist and be writable.
	Dir string
	// ClientAddress is host:port for clients; default 127.0.0.1:0 (a
	// random port).
	ClientAddress string
	// TLS, when set, serves clients over TLS with these files.
	CertFile, KeyFile, TrustedCAFile string
	// ClientCertAuth requires client certificates signed by TrustedCAFile.
	ClientCertAuth bool
	// Quiet silences etcd's own logging.
	Quiet bool
	// NoFsync skips fsync of the WAL: much faster bulk loads, for tests,
	// benchmarks and the simulator, never for data that must survive a crash.
	NoFsync bool
	// QuotaBytes raises the backend size limit (default 2 GiB when 0 in
	// etcd); large simulated registries need more.
	QuotaBytes int64
}

// Server is a running etcd.
type Server struct {
	etcd      *embed.Etcd
	closeOnce sync.Once
	// Endpoint is the client URL, with the real port.
	Endpoint string
}

// Start starts etcd and waits until it serves, at most 60 s.
func Start(o Options) (*Server, error) {
	if o.ClientAddress == "" {
		o.ClientAddress = "127.0.0.1:0"
	}
	cfg := embed.NewConfig()
	cfg.Dir = o.Dir
	cfg.Name = "embedded"
	scheme := "http"
	if o.CertFile != "" {
		scheme = "https"
		cfg.ClientTLSInfo.CertFile = o.CertFile
		cfg.ClientTLSInfo.KeyFile = o.KeyFile
		cfg.ClientTLSInfo.TrustedCAFile = o.TrustedCAFile
		cfg.ClientTLSInfo.ClientCertAuth = o.ClientCertAuth
	}
	clientURL, err := url.Parse(scheme + "://" + o.ClientAddress)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd: client address %q: %w", o.ClientAddress, err)
	}
	peerURL, _ := url.Parse("http://127.0.0.1:0")
	cfg.ListenClientUrls = []url.URL{*clientURL}
	cfg.AdvertiseClientUrls = []url.URL{*clientURL}
	cfg.ListenPeerUrls = []url.URL{*peerURL}
	cfg.AdvertisePeerUrls = []url.URL{*peerURL}
	cfg.InitialCluster = cfg.Name + "=" + peerURL.String()
	cfg.LogLevel = "error"
	cfg.UnsafeNoFsync = o.NoFsync
	if o.QuotaBytes > 0 {
		cfg.QuotaBackendBytes = o.QuotaBytes
	}
	if o.Quiet {
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd: %w", err)
	case <-time.After(60 * time.Second):
		e.Server.Stop()
		e.Close()
		return nil, fmt.Errorf("embedded etcd: not ready after 60s")
	}
	return &Server{etcd: e, Endpoint: scheme + "://" + e.Clients[0].Addr().String()}, nil
}

// Close stops the server and waits for it; closing twice is harmless.
func (s *Server) Close() {
	s.closeOnce.Do(s.etcd.Close)
}

// Err reports a fatal server error.
func (s *Server) Err() <-chan error { return s.etcd.Err() }
