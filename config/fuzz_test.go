package config

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

// yamlLines counts lines as YAML does: \r\n, \r, \n and yaml.v3's Unicode
// breaks (NEL, LS, PS) each end one.
func yamlLines(data []byte) int {
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	n := 1 + bytes.Count(data, []byte("\n")) + bytes.Count(data, []byte("\r"))
	for _, br := range []string{"\u0085", "\u2028", "\u2029"} {
		n += bytes.Count(data, []byte(br))
	}
	return n
}

// FuzzLoadBytes feeds the loader arbitrary files. Whatever the input, it
// must not panic, must return either a configuration or errors, and every
// error must name the file and a line inside it, since that is what an
// operator fixing a broken file relies on. `make test` runs it briefly.
func FuzzLoadBytes(f *testing.F) {
	full, err := os.ReadFile("testdata/full.yml")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range [][]byte{
		full,
		[]byte(""),
		[]byte("a: 1\nb: 2\n\tc: 3\n"),
		[]byte("sources:\n  - name: a\n    etcd: {endpoints: [http://127.0.0.1:2379]}\n  - name: a\n"),
		[]byte("alerting:\n  alertmanagers:\n    - url: http://h:9093\n    - url: http://h:9093\n"),
		[]byte("x: &a [1, 2]\ny: *a\n<<: {z: 1}\n"),
		[]byte("global:\n  external_url: 'http://u:p@h:99999/'\n"),
		[]byte("---\n---\n"),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := LoadBytes(data, "fuzz.yml")
		if (cfg == nil) == (err == nil) {
			t.Fatalf("LoadBytes returned config %v and error %v", cfg != nil, err)
		}
		if err == nil {
			return
		}
		lines := yamlLines(data)
		var joined interface{ Unwrap() []error }
		list := []error{err}
		if errors.As(err, &joined) {
			list = joined.Unwrap()
		}
		for _, e := range list {
			var ce *Error
			if !errors.As(e, &ce) {
				t.Fatalf("error %q is not a *config.Error", e)
			}
			if ce.File != "fuzz.yml" || ce.Line < 0 || ce.Line > lines+1 {
				t.Fatalf("error %q: file %q, line %d of %d", ce, ce.File, ce.Line, lines)
			}
		}
	})
}
