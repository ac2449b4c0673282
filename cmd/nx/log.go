package main

import (
	"io"
	"log/slog"
	"strings"

	"github.com/numax/numax/internal/hostapi"
)

// logFlags are the logging flags shared by commands that run a node.
type logFlags struct {
	level   string
	format  string
	verbose bool
}

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "trace":
		return hostapi.LevelTrace, nil
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, usagef("--log-level %q: want trace, debug, info, warn or error", s)
}

// newLogger builds the node's logger on w.
func (f logFlags) newLogger(w io.Writer) (*slog.Logger, error) {
	level, err := parseLevel(f.level)
	if err != nil {
		return nil, err
	}
	if f.verbose && level > slog.LevelDebug {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.LevelKey {
				if l, ok := a.Value.Any().(slog.Level); ok && l == hostapi.LevelTrace {
					a.Value = slog.StringValue("TRACE")
				}
			}
			return a
		},
	}
	switch f.format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("--log-format %q: want text or json", f.format)
}
