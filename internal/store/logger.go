package store

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"
)

// pebbleLogger routes Pebble's printf-style logging to slog. Pebble's info
// lines (WAL recovery, compactions) are operational detail, so they go to
// debug; its errors stay errors, but one that repeats (a full disk makes
// Pebble retry and report hundreds of times a second) is logged once and
// then as a reminder every errorReminder with how often it recurred.
type pebbleLogger struct {
	l       *slog.Logger
	repeats *repeats
	// onFatal is told of a fatal error met by a goroutine of Pebble's own.
	onFatal func(msg string)
}

// errorReminder is how often a repeating Pebble error is logged again.
const errorReminder = 30 * time.Second

// repeats remembers Pebble error lines by their shape (digits removed:
// file numbers change with every retry).
type repeats struct {
	mu   sync.Mutex
	seen map[string]*repeat
}

type repeat struct {
	last  time.Time
	count int
}

func newPebbleLogger(l *slog.Logger, onFatal func(string)) pebbleLogger {
	return pebbleLogger{l: l, repeats: &repeats{seen: map[string]*repeat{}}, onFatal: onFatal}
}

// shape is msg with every run of digits replaced by one '#'.
func shape(msg string) string {
	b := make([]byte, 0, len(msg))
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c >= '0' && c <= '9' {
			if len(b) == 0 || b[len(b)-1] != '#' {
				b = append(b, '#')
			}
			continue
		}
		b = append(b, c)
	}
	return string(b)
}

// admit reports whether msg should be logged now, and how many times it
// recurred unlogged since it last was.
func (r *repeats) admit(msg string, now time.Time) (bool, int) {
	if r == nil {
		return true, 0
	}
	k := shape(msg)
	r.mu.Lock()
	defer r.mu.Unlock()
	rp := r.seen[k]
	if rp == nil {
		if len(r.seen) > 256 {
			r.seen = map[string]*repeat{} // bounded
		}
		r.seen[k] = &repeat{last: now}
		return true, 0
	}
	if now.Sub(rp.last) < errorReminder {
		rp.count++
		return false, 0
	}
	n := rp.count
	rp.last, rp.count = now, 0
	return true, n
}

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Log(context.Background(), slog.LevelDebug, fmt.Sprintf(format, args...), "component", "pebble")
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	ok, n := p.repeats.admit(msg, time.Now())
	if !ok {
		return
	}
	if n > 0 {
		p.l.Log(context.Background(), slog.LevelError, msg, "component", "pebble", "repeated", n, "over", errorReminder.String())
		return
	}
	p.l.Log(context.Background(), slog.LevelError, msg, "component", "pebble")
}

// Fatalf is called by Pebble on what it cannot continue from (on-disk
// corruption found by a read, an invariant broken); the contract is that it
// does not return. It panics with a fatal, which the store's methods turn
// back into a *FatalError for their caller (recoverFatal): a damaged table
// becomes one error naming the file, not a crash.
//
// A goroutine of Pebble's own (a flush, a compaction, the MANIFEST writer)
// has no caller of ours to recover such a panic, which would crash the node
// with a trace. There the store is marked failed instead (onFatal: one log
// line; every later call returns the error, Close leaves Pebble alone) and
// the goroutine ends, running its deferred calls.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if recovering() || p.onFatal == nil {
		p.l.Log(context.Background(), slog.LevelError, msg, "component", "pebble", "fatal", true)
		panic(fatal{msg: msg})
	}
	p.onFatal(msg)
	runtime.Goexit()
}

// recoverers are the functions that turn a fatal panic back into an error.
var recoverers = []string{
	"github.com/numax/numax/internal/store.(*Store).Get",
	"github.com/numax/numax/internal/store.(*Store).Scan",
	"github.com/numax/numax/internal/store.(*Store).Bounds",
	"github.com/numax/numax/internal/store.(*Store).CommitUnchecked",
	"github.com/numax/numax/internal/store.(*Store).Sync",
	"github.com/numax/numax/internal/store.(*Store).closeDB",
	"github.com/numax/numax/internal/store.checkTable",
}

// recovering reports whether a caller up the stack recovers a fatal panic
// (only looked at on the fatal path).
func recovering() bool {
	pcs := make([]uintptr, 128)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)])
	for {
		f, more := frames.Next()
		for _, r := range recoverers {
			if strings.HasPrefix(f.Function, r) {
				return true
			}
		}
		if !more {
			return false
		}
	}
}

// fatal is what Fatalf panics with.
type fatal struct{ msg string }

// FatalError is a failure Pebble cannot continue from, such as on-disk
// corruption (the message names the file and the checksum that failed).
type FatalError struct{ Msg string }

func (e *FatalError) Error() string {
	msg, _, _ := strings.Cut(e.Msg, "\n")
	return "datastore: " + msg
}

// recoverFatal turns a Fatalf panic in the calling goroutine into *err.
// Other panics go on.
func recoverFatal(err *error) {
	if r := recover(); r != nil {
		f, ok := r.(fatal)
		if !ok {
			panic(r)
		}
		*err = &FatalError{Msg: f.msg}
	}
}
