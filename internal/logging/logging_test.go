package logging

import (
	"bytes"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

func TestOneTimestampAndCallerPerLine(t *testing.T) {
	var buf bytes.Buffer
	logger, err := New(&buf, "debug", "logfmt")
	if err != nil {
		t.Fatal(err)
	}
	logger = log.With(logger, "component", "web")
	level.Info(logger).Log("msg", "from go-kit")
	Slog(logger).With("address", "127.0.0.1:1").WithGroup("g").Info("from slog", "http2", false)
	Slog(logger).Debug("debug from slog")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	for _, line := range lines {
		if n := strings.Count(line, "caller="); n != 1 {
			t.Errorf("%d caller keys: %s", n, line)
		}
		if !strings.Contains(line, "caller=logging_test.go:") {
			t.Errorf("caller is not the line that logged: %s", line)
		}
		if strings.Contains(line, "time=") || strings.Count(line, "ts=") != 1 {
			t.Errorf("want exactly one ts and no time: %s", line)
		}
	}
	if !regexp.MustCompile(`level=info .*msg="from slog" address=127.0.0.1:1 g.http2=false`).MatchString(lines[1]) {
		t.Errorf("slog line: %s", lines[1])
	}
	if !strings.Contains(lines[2], "level=debug") {
		t.Errorf("slog debug line: %s", lines[2])
	}
}

func TestSlogHonoursTheLevelFilter(t *testing.T) {
	var buf bytes.Buffer
	logger, _ := New(&buf, "warn", "logfmt")
	Slog(logger).Info("hidden")
	Slog(logger).Warn("shown")
	if out := buf.String(); strings.Contains(out, "hidden") || !strings.Contains(out, "level=warn") {
		t.Errorf("output %q", out)
	}
}

func TestErrorLogsOneLinePerProblem(t *testing.T) {
	var buf bytes.Buffer
	logger, _ := New(&buf, "info", "logfmt")
	Error(logger, "configuration not loaded", errors.Join(errors.New("c.yml:2: a: bad"), errors.New("c.yml:4: b: bad")), "file", "c.yml")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || strings.Contains(buf.String(), `\n`) {
		t.Fatalf("want two lines without escaped newlines:\n%s", buf.String())
	}
	for i, want := range []string{`err="c.yml:2: a: bad"`, `err="c.yml:4: b: bad"`} {
		if !strings.Contains(lines[i], want) || !strings.Contains(lines[i], "file=c.yml") || !strings.Contains(lines[i], "caller=logging_test.go:") {
			t.Errorf("line %d: %s", i, lines[i])
		}
	}
}

var _ slog.Handler = (*slogHandler)(nil)
