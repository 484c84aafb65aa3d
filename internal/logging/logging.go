// Package logging builds the leveled go-kit loggers of the exporter and the
// simulator from their --log.level and --log.format flags.
package logging

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	sloggokit "github.com/tjhop/slog-gokit"
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
	return log.With(logger, "ts", log.DefaultTimestampUTC, "caller", log.DefaultCaller), nil
}

// Slog adapts logger for libraries that log through log/slog (the
// exporter-toolkit web server); the go-kit filter still decides levels.
func Slog(logger log.Logger) *slog.Logger {
	return slog.New(sloggokit.NewGoKitHandler(logger, slog.LevelDebug))
}
