package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/servicecomb/servicecomb_exporter/alarm"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/logbuf"
)

// fakeDumper writes body, then fails with err if set.
type fakeDumper struct {
	body string
	err  error
	// wait, when set, is waited for after the body is written.
	wait chan struct{}
}

func (d *fakeDumper) DumpCache(ctx context.Context, w io.Writer) error {
	if _, err := io.WriteString(w, d.body); err != nil {
		return err
	}
	if d.wait != nil {
		select {
		case <-d.wait:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return d.err
}

type cacheServer struct {
	url     string
	handler http.Handler
	center  *alarm.Center
	logs    *logbuf.Buffer

	mu     sync.Mutex
	asked  []string // source names asked for
	byName map[string]CacheDumper
}

// newCacheServer serves the handler on a real loopback server (a failed
// stream aborts the connection, which a recorder cannot show), with the
// dumpers by source name; "" is the first source.
func newCacheServer(t *testing.T, byName map[string]CacheDumper, clusters map[string][]string) *cacheServer {
	t.Helper()
	cs := &cacheServer{center: newTestCenter(t), logs: &logbuf.Buffer{}, byName: byName}
	o := Options{
		Logger:  log.NewLogfmtLogger(cs.logs),
		Alarms:  cs.center,
		Health:  alarm.NewHealthChecker(cs.center),
		Metrics: http.NotFoundHandler(),
		Cache: func(name string) (CacheDumper, error) {
			cs.mu.Lock()
			defer cs.mu.Unlock()
			cs.asked = append(cs.asked, name)
			if len(cs.byName) == 0 {
				return nil, nil
			}
			d, ok := cs.byName[name]
			if !ok {
				return nil, fmt.Errorf("unknown source %q", name)
			}
			return d, nil
		},
	}
	if clusters != nil {
		o.Clusters = func() map[string][]string { return clusters }
	}
	h, err := NewHandler(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cs.url, cs.handler = srv.URL, h
	return cs
}

func (cs *cacheServer) get(t *testing.T, path string, header http.Header) (int, string, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, cs.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

const fakeCache = `{"services":[{"key":"/cse-sr/ms/files/default/default/s1","rev":5,"cluster":"default","value":{"serviceId":"s1"}}]}`

func TestDumpCacheOption(t *testing.T) {
	first, second := &fakeDumper{body: fakeCache}, &fakeDumper{body: `{}`}
	tests := []struct {
		name      string
		byName    map[string]CacheDumper
		target    string
		header    http.Header
		wantAsked string // the source name asked for
		notAsked  bool   // no source asked for
		wantCode  int
		wantBody  string   // exact, when set
		contains  []string // in order
	}{
		{name: "default: the first source's cache", target: "/v4/default/admin/dump",
			wantAsked: "", wantCode: 200, wantBody: `{"cache":` + fakeCache + `}`},
		{name: "options=cache", target: "/v4/default/admin/dump?options=cache",
			wantAsked: "", wantCode: 200, wantBody: `{"cache":` + fakeCache + `}`},
		{name: "source picked", target: "/v4/default/admin/dump?options=cache&source=b",
			wantAsked: "b", wantCode: 200, wantBody: `{"cache":{}}`},
		{name: "cache after the other options", target: "/v4/default/admin/dump?options=cache,info,exporter",
			wantAsked: "", wantCode: 200, contains: []string{`{"info":{"version"`, `},"exporter":{"registry":{},"alarms":[]},"cache":` + fakeCache + `}`}},
		{name: "unknown source", target: "/v4/default/admin/dump?source=nope",
			wantAsked: "nope", wantCode: 400, wantBody: `{"errorCode":"400001","errorMessage":"Invalid parameter(s)","detail":"unknown source \"nope\""}`},
		{name: "no source configured", byName: map[string]CacheDumper{}, target: "/v4/default/admin/dump?options=info,cache",
			wantAsked: "", wantCode: 200, contains: []string{`{"info":{`, `},"cache":{}}`}},
		{name: "no source configured, one named", byName: map[string]CacheDumper{}, target: "/v4/default/admin/dump?source=x",
			wantAsked: "x", wantCode: 400, contains: []string{`"detail":"unknown source \"x\"; no source is configured"`}},
		{name: "exporter only: no source read", target: "/v4/default/admin/dump?options=exporter&source=b",
			notAsked: true, wantCode: 200, wantBody: `{"exporter":{"registry":{},"alarms":[]}}`},
		{name: "another domain", target: "/v4/default/admin/dump", header: http.Header{"X-Domain-Name": {"tenant-a"}},
			notAsked: true, wantCode: 403, contains: []string{`"errorCode":"403001"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			byName := tt.byName
			if byName == nil {
				byName = map[string]CacheDumper{"": first, "b": second}
			}
			cs := newCacheServer(t, byName, nil)
			code, body, err := cs.get(t, tt.target, tt.header)
			if err != nil {
				t.Fatalf("reading the body: %v", err)
			}
			if code != tt.wantCode {
				t.Errorf("status %d, want %d: %s", code, tt.wantCode, body)
			}
			if tt.wantBody != "" && body != tt.wantBody {
				t.Errorf("body\n got %s\nwant %s", body, tt.wantBody)
			}
			at := 0
			for _, c := range tt.contains {
				i := strings.Index(body[at:], c)
				if i < 0 {
					t.Fatalf("body lacks %s after offset %d:\n%s", c, at, body)
				}
				at += i + len(c)
			}
			if code == 200 && !json.Valid([]byte(body)) {
				t.Errorf("invalid JSON: %s", body)
			}
			asked := []string{tt.wantAsked}
			if tt.notAsked {
				asked = nil
			}
			if fmt.Sprint(cs.asked) != fmt.Sprint(asked) {
				t.Errorf("sources asked %q, want %q", cs.asked, asked)
			}
		})
	}
}

// TestDumpCacheFailures: a source that fails before writing gets Service
// Center's "registry unavailable" (and InternalError, as any 5xx); one that
// fails after writing breaks the transfer, so that no client takes a
// partial registry for a whole one.
func TestDumpCacheFailures(t *testing.T) {
	t.Run("before writing", func(t *testing.T) {
		cs := newCacheServer(t, map[string]CacheDumper{"": &fakeDumper{err: errors.New("etcd source main: connection refused")}}, nil)
		code, body, err := cs.get(t, "/v4/default/admin/dump?options=info,cache", nil)
		if err != nil || code != 500 ||
			body != `{"errorCode":"500011","errorMessage":"Registry service is unavailable","detail":"etcd source main: connection refused"}` {
			t.Errorf("got %d %s (%v)", code, body, err)
		}
		if a, ok := cs.center.Get("", alarm.InternalError); !ok || !a.Active() {
			t.Errorf("InternalError not raised: %+v", a)
		}
		if !strings.Contains(cs.logs.String(), "connection refused") {
			t.Errorf("failure not logged:\n%s", cs.logs.String())
		}
	})
	t.Run("after writing", func(t *testing.T) {
		partial := `{"services":[` + strings.Repeat(`{"key":"k","rev":1,"cluster":"c","value":{}},`, 2000)
		cs := newCacheServer(t, map[string]CacheDumper{"": &fakeDumper{body: partial, err: errors.New("etcd: compacted")}}, nil)
		code, body, err := cs.get(t, "/v4/default/admin/dump", nil)
		if err == nil {
			t.Fatalf("partial dump read as complete: %d %.200s", code, body)
		}
		if !strings.HasPrefix(body, `{"cache":{"services":[`) {
			t.Errorf("body start %.100s", body)
		}
		if !strings.Contains(cs.logs.String(), "compacted") {
			t.Errorf("failure not logged:\n%s", cs.logs.String())
		}
	})
}

// TestDumpCacheStreams: the answer goes out while the source is still
// writing: nothing holds the whole registry.
func TestDumpCacheStreams(t *testing.T) {
	chunk := `{"services":[` + strings.Repeat(`{"key":"k","rev":1,"cluster":"c","value":{}},`, 2000) + `{"key":"k","rev":1,"cluster":"c","value":{}}]}`
	d := &fakeDumper{body: chunk, wait: make(chan struct{})}
	cs := newCacheServer(t, map[string]CacheDumper{"": d}, nil)
	resp, err := http.Get(cs.url + "/v4/default/admin/dump")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	head := make([]byte, len(`{"cache":{"services":[`))
	readDone := make(chan error, 1)
	go func() { _, err := io.ReadFull(resp.Body, head); readDone <- err }()
	select {
	case err := <-readDone:
		if err != nil || string(head) != `{"cache":{"services":[` {
			t.Fatalf("head %q (%v)", head, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing received while the source was writing")
	}
	close(d.wait)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || !json.Valid(append(head, rest...)) {
		t.Errorf("rest of the answer: %v, valid %v", err, json.Valid(append(head, rest...)))
	}
}

func TestClustersEndpoint(t *testing.T) {
	tests := []struct {
		name     string
		clusters map[string][]string
		method   string
		header   http.Header
		code     int
		body     string
	}{
		{"sources", map[string][]string{"default": {"http://127.0.0.1:2379"}, "sc": {"https://a:30100", "https://b:30100"}}, "GET", nil,
			200, `{"clusters":{"default":["http://127.0.0.1:2379"],"sc":["https://a:30100","https://b:30100"]}}`},
		{"no source", map[string][]string{}, "GET", nil, 200, `{}`},
		{"another domain", map[string][]string{}, "GET", http.Header{"X-Domain-Name": {"tenant-a"}}, 403, ""},
		{"wrong method", map[string][]string{}, "DELETE", nil, 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := newCacheServer(t, nil, tt.clusters)
			req, _ := http.NewRequest(tt.method, cs.url+"/v4/default/admin/clusters", nil)
			for k, v := range tt.header {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code || (tt.body != "" && string(body) != tt.body) {
				t.Errorf("got %d %s, want %d %s", resp.StatusCode, body, tt.code, tt.body)
			}
		})
	}
}

// slowDumper writes its chunks with pauses between them, as a source
// reading a large registry does.
type slowDumper struct {
	chunks int
	pause  time.Duration
}

func (d slowDumper) DumpCache(ctx context.Context, w io.Writer) error {
	if _, err := io.WriteString(w, `{"services":[{}`); err != nil {
		return err
	}
	for i := 0; i < d.chunks; i++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d.pause):
		}
		if _, err := io.WriteString(w, `,{}`); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, `]}`)
	return err
}

// TestDumpCacheOutlastsWriteTimeout: a dump that takes longer than the
// server's write timeout, while writing steadily, is not cut.
func TestDumpCacheOutlastsWriteTimeout(t *testing.T) {
	cs := newCacheServer(t, map[string]CacheDumper{"": slowDumper{chunks: 6, pause: 250 * time.Millisecond}}, nil)
	// The same handler behind a server with a short write timeout.
	h := httptest.NewUnstartedServer(nil)
	h.Config.Handler = cs.handler
	h.Config.WriteTimeout = 500 * time.Millisecond
	h.Start()
	t.Cleanup(h.Close)
	resp, err := http.Get(h.URL + "/v4/default/admin/dump")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || body == nil || !json.Valid(body) || !strings.HasSuffix(string(body), `,{}]}}`) {
		t.Errorf("dump cut by the write timeout: %v %s", err, body)
	}
}
