package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/go-kit/log/level"
)

// codeUnavailable is Service Center's "registry service is unavailable".
const codeUnavailable = "500011"

// CacheDumper streams one registry source's content as the value of the
// dump API's "cache" member, in Service Center's shape: {"services":[…],
// "serviceIndexes":[…],"serviceAliases":[…],"instances":[…]}. On error,
// part of it may have been written already.
type CacheDumper interface {
	DumpCache(ctx context.Context, w io.Writer) error
}

// dumpWithCache answers the dump with the registry streamed from a source
// (?source=NAME, default the first) as its last member. Nothing is held but
// the source's current page: the response goes out as the source reads.
//
// Until the source writes its first byte the answer can still be an error;
// after that, a failure aborts the response, so that a client sees a broken
// transfer rather than a complete-looking partial registry.
func (a *api) dumpWithCache(w http.ResponseWriter, r *http.Request, out dumpAnswer) {
	head, err := json.Marshal(out)
	if err != nil {
		writeError(w, codeInternal, "Internal server error", "encoding dump: "+err.Error())
		return
	}
	// head is {…}: reopen it to append the cache member.
	head = head[:len(head)-1]
	if len(head) > 1 {
		head = append(head, ',')
	}
	head = append(head, `"cache":`...)

	var dumper CacheDumper
	name := r.URL.Query().Get("source")
	if a.Cache != nil {
		if dumper, err = a.Cache(name); err != nil {
			writeError(w, codeInvalidParams, "Invalid parameter(s)", err.Error())
			return
		}
	}
	if dumper == nil {
		if name != "" {
			writeError(w, codeInvalidParams, "Invalid parameter(s)", "unknown source "+quote(name)+"; no source is configured")
			return
		}
		// No source: an empty registry, as Service Center writes it.
		writeJSONBytes(w, append(head, "{}}"...))
		return
	}
	sw := &startWriter{w: w, head: head}
	if err := dumper.DumpCache(r.Context(), sw); err != nil {
		if r.Context().Err() != nil {
			return // the client went away
		}
		level.Warn(a.Logger).Log("msg", "cache dump failed", "source", name, "err", err)
		if !sw.started {
			writeError(w, codeUnavailable, "Registry service is unavailable", err.Error())
			return
		}
		panic(http.ErrAbortHandler)
	}
	if err := sw.start(); err != nil {
		return
	}
	_, _ = w.Write([]byte("}"))
}

// dumpStallTimeout bounds how long one write of a streamed dump may take.
// The server's write timeout bounds a whole answer, which a dump of a large
// registry can exceed while the client reads steadily: the dump moves the
// deadline forward as it writes instead.
const dumpStallTimeout = time.Minute

// startWriter writes the answer's status, headers and head before the
// first byte of the cache.
type startWriter struct {
	w        http.ResponseWriter
	head     []byte
	started  bool
	extended time.Time // when the write deadline was last moved
}

func (s *startWriter) start() error {
	if s.started {
		return nil
	}
	s.started = true
	s.w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	s.w.WriteHeader(http.StatusOK)
	_, err := s.w.Write(s.head)
	return err
}

func (s *startWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil // not yet a start: an error can still be answered
	}
	if err := s.start(); err != nil {
		return 0, err
	}
	if now := time.Now(); now.Sub(s.extended) > time.Second {
		s.extended = now
		// Not supported by every writer (test recorders): then the
		// server's own timeouts apply.
		_ = http.NewResponseController(s.w).SetWriteDeadline(now.Add(dumpStallTimeout))
	}
	return s.w.Write(p)
}

func writeJSONBytes(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// clusterList is Service Center's clusters answer: each registry cluster's
// name and endpoints; the key is left out when there are none.
type clusterList struct {
	Clusters map[string][]string `json:"clusters,omitempty"`
}

func (a *api) clusters(w http.ResponseWriter, _ *http.Request) {
	var out clusterList
	if a.Clusters != nil {
		out.Clusters = a.Clusters()
	}
	writeJSON(w, http.StatusOK, out)
}
