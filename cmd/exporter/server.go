package main

import (
	"net/http"
	"time"

	"github.com/alecthomas/units"
)

// Defaults of the HTTP server's limits. A scrape is one small GET answered
// within Prometheus's scrape timeout (10 s by default, at most the scrape
// interval); nothing the exporter serves needs more than these, and without
// them a client that opens connections and never finishes a request, or
// keeps them idle, holds a file descriptor each for ever.
const (
	defaultReadTimeout    = 10 * time.Second
	defaultWriteTimeout   = time.Minute
	defaultIdleTimeout    = 2 * time.Minute // Prometheus scrapes every 15 s to 1 m and reuses its connection
	defaultMaxHeaderBytes = "16KiB"         // basic auth, a bearer token and the usual headers fit many times over
)

// serverLimits are the --web.*-timeout and --web.max-header-bytes flags.
type serverLimits struct {
	readTimeout    time.Duration
	writeTimeout   time.Duration
	idleTimeout    time.Duration
	maxHeaderBytes units.Base2Bytes
}

func (l serverLimits) newServer(handler http.Handler) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: l.readTimeout,
		ReadTimeout:       l.readTimeout,
		WriteTimeout:      l.writeTimeout,
		IdleTimeout:       l.idleTimeout,
		MaxHeaderBytes:    int(l.maxHeaderBytes),
	}
}
