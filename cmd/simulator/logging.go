package main

import (
	"fmt"
	"io"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// newLogger returns a leveled go-kit logger writing to w, like the
// exporter's.
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
