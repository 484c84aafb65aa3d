package servicecenter

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// recordedCache is the value of "cache" in a recorded dump, compact.
func recordedCache(t *testing.T, body []byte) []byte {
	t.Helper()
	var dump struct {
		Cache json.RawMessage `json:"cache"`
	}
	mustUnmarshal(t, body, &dump)
	var buf bytes.Buffer
	if err := json.Compact(&buf, dump.Cache); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestDumpCacheStreamsServiceCenterDump: the cache is Service Center's
// own, byte for byte, from the endpoint that answers, with the token when
// RBAC is on.
func TestDumpCacheStreamsServiceCenterDump(t *testing.T) {
	steady := loadFixture(t, "03-steady/dump_cache").body
	want := recordedCache(t, steady)
	big := genDump(300, 20) // > the 64 KiB write buffer
	tests := []struct {
		name  string
		setup func(t *testing.T) (*Source, []byte)
	}{
		{"one endpoint", func(t *testing.T) (*Source, []byte) {
			sc := newFakeSC(t)
			s, _ := newSource(t, Options{Config: scConfig(sc.URL())})
			return s, want
		}},
		{"a dump larger than the write buffer", func(t *testing.T) (*Source, []byte) {
			sc := newFakeSC(t)
			sc.set(pathDump, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(big) })
			s, _ := newSource(t, Options{Config: scConfig(sc.URL())})
			return s, recordedCache(t, big)
		}},
		{"RBAC", func(t *testing.T) (*Source, []byte) {
			sc := newFakeSC(t)
			sc.user, sc.password = "monitor", "pw"
			cfg := scConfig(sc.URL())
			cfg.Username, cfg.Password = "monitor", "pw"
			s, _ := newSource(t, Options{Config: cfg})
			return s, want
		}},
		{"first endpoint down, second answers", func(t *testing.T) (*Source, []byte) {
			sc := newFakeSC(t)
			s, _ := newSource(t, Options{Config: scConfig(closedURL(t), sc.URL())})
			return s, want
		}},
		{"unhealthy endpoint tried last", func(t *testing.T) (*Source, []byte) {
			bad, good := newFakeSC(t), newFakeSC(t)
			bad.set(pathHealth, status(http.StatusBadRequest, `{"errorCode":"400002"}`))
			bad.set(pathDump, func(w http.ResponseWriter, _ *http.Request) { t.Error("dump asked from the unhealthy endpoint") })
			s, _ := newSource(t, Options{Config: scConfig(bad.URL(), good.URL())})
			s.probeAll(context.Background())
			return s, want
		}},
		{"cache null", func(t *testing.T) (*Source, []byte) {
			sc := newFakeSC(t)
			sc.set(pathDump, status(http.StatusOK, `{"info":{"version":"x"},"cache":null}`))
			s, _ := newSource(t, Options{Config: scConfig(sc.URL())})
			return s, []byte(`{}`)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, want := tt.setup(t)
			var buf bytes.Buffer
			if err := s.DumpCache(context.Background(), &buf); err != nil {
				t.Fatalf("DumpCache: %v", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("cache differs from Service Center's:\n got %.300s\nwant %.300s", buf.Bytes(), want)
			}
		})
	}
}

// TestDumpCacheRefusesBrokenDumps: a broken answer is an error; nothing of
// it is written while it fits the write buffer, so the next endpoint can
// still answer, and what is written is never passed on past the break.
func TestDumpCacheRefusesBrokenDumps(t *testing.T) {
	steady := string(loadFixture(t, "03-steady/dump_cache").body)
	big := string(genDump(300, 20))
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		wantErr    string
		wantOutput bool // part of the dump reached the writer
	}{
		{"empty body", status(http.StatusOK, ""), "empty dump", false},
		{"error status", status(http.StatusInternalServerError, `{"errorCode":"500003"}`), "HTTP status 500", false},
		{"no cache", status(http.StatusOK, `{"info":{}}`), "no cache in the dump", false},
		{"truncated", status(http.StatusOK, steady[:len(steady)/2]), "unexpected EOF", false},
		{"data after", status(http.StatusOK, steady+`{}`), "data after the dump", false},
		{"entry not JSON", status(http.StatusOK, `{"cache":{"services":[{"key":x}]}}`), "invalid character", false},
		{"member an object", status(http.StatusOK, `{"cache":{"services":{"key":"x"}}}`), "is not an array", false},
		{"truncated after the write buffer", status(http.StatusOK, big[:len(big)-1000]), "unexpected EOF", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := newFakeSC(t)
			sc.set(pathDump, tt.handler)
			s, _ := newSource(t, Options{Config: scConfig(sc.URL())})
			var buf bytes.Buffer
			err := s.DumpCache(context.Background(), &buf)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
			if got := buf.Len() > 0; got != tt.wantOutput {
				t.Errorf("wrote %d bytes, want output %v", buf.Len(), tt.wantOutput)
			}
			if tt.wantOutput && !strings.Contains(err.Error(), sc.URL()) {
				t.Errorf("error after output does not name the endpoint: %v", err)
			}
			if n := s.Endpoints()[0].Errors; n != 1 {
				t.Errorf("endpoint errors = %d, want 1", n)
			}
		})
	}
	t.Run("broken after output: no second endpoint appended", func(t *testing.T) {
		bad, good := newFakeSC(t), newFakeSC(t)
		bad.set(pathDump, status(http.StatusOK, big[:len(big)-1000]))
		s, _ := newSource(t, Options{Config: scConfig(bad.URL(), good.URL())})
		var buf bytes.Buffer
		err := s.DumpCache(context.Background(), &buf)
		if err == nil || !strings.Contains(err.Error(), bad.URL()) || buf.Len() == 0 {
			t.Fatalf("err = %v after %d bytes, want the first endpoint's error", err, buf.Len())
		}
		if n := good.hitCount(pathDump); n != 0 {
			t.Errorf("second endpoint asked %d times after output had started", n)
		}
	})
	t.Run("partial answer from the first, whole from the second", func(t *testing.T) {
		bad, good := newFakeSC(t), newFakeSC(t)
		bad.set(pathDump, status(http.StatusOK, steady[:len(steady)-10]))
		s, _ := newSource(t, Options{Config: scConfig(bad.URL(), good.URL())})
		var buf bytes.Buffer
		if err := s.DumpCache(context.Background(), &buf); err != nil {
			t.Fatal(err)
		}
		if want := recordedCache(t, []byte(steady)); !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("got %.300s\nwant %.300s", buf.Bytes(), want)
		}
	})
}

// BenchmarkDumpCache streams a 100,000 instance dump from a local Service
// Center through the source's DumpCache (checking every entry, holding one)
// against a plain io.Copy of the same answer, in the same run. peak-heap-MB
// is the heap in use above the start (which holds the server's body),
// sampled during one extra run.
func BenchmarkDumpCache(b *testing.B) {
	body := genDump(1000, 100)
	sc := newFakeSC(b)
	sc.set(pathDump, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) })
	s, _ := newSource(b, Options{Config: scConfig(sc.URL())})
	runs := map[string]func() error{
		"passthrough": func() error { return s.DumpCache(context.Background(), io.Discard) },
		"io.Copy": func() error {
			resp, cancel, err := s.get(context.Background(), s.endpoints[0], pathDump, http.Header{"X-Domain-Name": {"default"}}, true)
			if err != nil {
				return err
			}
			defer cancel()
			defer resp.Body.Close()
			_, err = io.Copy(io.Discard, resp.Body)
			return err
		},
	}
	for _, name := range []string{"passthrough", "io.Copy"} {
		run := runs[name]
		b.Run(name, func(b *testing.B) {
			var err error
			peak := peakHeap(func() { err = run() })
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := run(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		})
	}
}
