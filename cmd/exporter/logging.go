package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	sloggokit "github.com/tjhop/slog-gokit"
)

var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"logfmt", "json"}
)

// newLogger returns a leveled go-kit logger writing to w.
func newLogger(w io.Writer, lvl, format string) (log.Logger, error) {
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
	return log.With(logger, "ts", log.DefaultTimestampUTC, "caller", log.DefaultCaller), nil
}

// slogFor adapts logger for libraries that log through log/slog
// (exporter-toolkit's web server); the go-kit filter still decides levels.
func slogFor(logger log.Logger) *slog.Logger {
	return slog.New(sloggokit.NewGoKitHandler(logger, slog.LevelDebug))
}
