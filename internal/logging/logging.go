// Package logging builds the leveled go-kit loggers of the exporter and the
// simulator from their --log.level and --log.format flags.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// Levels and Formats are the valid flag values.
var (
	Levels  = []string{"debug", "info", "warn", "error"}
	Formats = []string{"logfmt", "json"}
)

// New returns a leveled go-kit logger writing to w.
func New(w io.Writer, lvl, format string) (log.Logger, error) {
	var logger log.Logger
	switch format {
	case "logfmt":
		logger = log.NewLogfmtLogger(log.NewSyncWriter(w))
	case "json":
		logger = log.NewJSONLogger(log.NewSyncWriter(w))
	default:
		return nil, fmt.Errorf("--log.format: unknown format %q (valid: logfmt, json)", format)
	}
	var allow level.Option
	switch lvl {
	case "debug":
		allow = level.AllowDebug()
	case "info":
		allow = level.AllowInfo()
	case "warn":
		allow = level.AllowWarn()
	case "error":
		allow = level.AllowError()
	default:
		return nil, fmt.Errorf("--log.level: unknown level %q (valid: debug, info, warn, error)", lvl)
	}
	logger = level.NewFilter(logger, allow)
	return log.With(logger, "ts", log.DefaultTimestampUTC, "caller", caller), nil
}

// caller names the first frame outside the logging machinery (go-kit,
// log/slog and this package), so that a line logged through Slog names
// its real origin, like any other line, and carries one caller key.
var caller log.Valuer = func() any {
	var pcs [24]uintptr
	n := runtime.Callers(2, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if !machinery(f.Function) || strings.HasSuffix(f.File, "_test.go") {
			return filepath.Base(f.File) + ":" + strconv.Itoa(f.Line)
		}
		if !more {
			return "unknown"
		}
	}
}

func machinery(function string) bool {
	for _, prefix := range []string{"github.com/go-kit/log", "log/slog.", thisPackage + "."} {
		if strings.HasPrefix(function, prefix) {
			return true
		}
	}
	return false
}

const thisPackage = "github.com/servicecomb/servicecomb_exporter/internal/logging"

// Slog adapts logger for libraries that log through log/slog (the
// exporter-toolkit web server); the go-kit filter still decides levels.
// The go-kit logger already adds ts and caller, so the record's own time
// and source are not repeated.
func Slog(logger log.Logger) *slog.Logger {
	return slog.New(&slogHandler{logger: logger})
}

type slogHandler struct {
	logger log.Logger
	attrs  []any  // key-value pairs from WithAttrs, already prefixed
	group  string // prefix of the open groups, "a.b."
}

func (h *slogHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *slogHandler) Handle(_ context.Context, r slog.Record) error {
	kv := make([]any, 0, 4+len(h.attrs)+2*r.NumAttrs())
	kv = append(kv, level.Key(), slogLevel(r.Level), "msg", r.Message)
	kv = append(kv, h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		kv = appendAttr(kv, h.group, a)
		return true
	})
	return h.logger.Log(kv...)
}

func (h *slogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	next := *h
	next.attrs = slices.Clone(h.attrs)
	for _, a := range attrs {
		next.attrs = appendAttr(next.attrs, h.group, a)
	}
	return &next
}

func (h *slogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	next := *h
	next.group = h.group + name + "."
	return &next
}

func appendAttr(kv []any, group string, a slog.Attr) []any {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return kv
	}
	if a.Value.Kind() == slog.KindGroup {
		prefix := group
		if a.Key != "" {
			prefix += a.Key + "."
		}
		for _, ga := range a.Value.Group() {
			kv = appendAttr(kv, prefix, ga)
		}
		return kv
	}
	return append(kv, group+a.Key, a.Value.Any())
}

func slogLevel(l slog.Level) level.Value {
	switch {
	case l >= slog.LevelError:
		return level.ErrorValue()
	case l >= slog.LevelWarn:
		return level.WarnValue()
	case l >= slog.LevelInfo:
		return level.InfoValue()
	default:
		return level.DebugValue()
	}
}

// Error logs err under msg, one line per line of its text: a list of
// configuration problems becomes one readable line each, not one line
// with escaped newlines.
func Error(logger log.Logger, msg string, err error, keyvals ...any) {
	for _, line := range strings.Split(err.Error(), "\n") {
		_ = level.Error(logger).Log(append([]any{"msg", msg, "err", line}, keyvals...)...)
	}
}
