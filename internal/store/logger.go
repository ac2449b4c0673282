package store

import (
	"context"
	"fmt"
	"log/slog"
)

// pebbleLogger routes Pebble's printf-style logging to slog. Pebble's info
// lines (WAL recovery, compactions) are operational detail, so they go to
// debug; its errors stay errors.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Log(context.Background(), slog.LevelDebug, fmt.Sprintf(format, args...), "component", "pebble")
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Log(context.Background(), slog.LevelError, fmt.Sprintf(format, args...), "component", "pebble")
}

// Fatalf is called by Pebble on an invariant violation it cannot continue
// from; the contract is that it does not return.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Log(context.Background(), slog.LevelError, msg, "component", "pebble", "fatal", true)
	panic("pebble: " + msg)
}
