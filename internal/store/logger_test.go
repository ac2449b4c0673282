package store

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// A Pebble error that repeats (a full disk: hundreds a second, each naming
// a new file) is logged once, then as a reminder with its count.
func TestPebbleLogger_RepeatedErrorsRateLimited(t *testing.T) {
	var buf bytes.Buffer
	pl := newPebbleLogger(slog.New(slog.NewTextHandler(&buf, nil)), nil)
	for i := range 500 {
		pl.Errorf("background error: write /d/pebble/%06d.sst: no space left on device", 471000+i)
	}
	pl.Errorf("another error entirely")
	if n := strings.Count(buf.String(), "no space left on device"); n != 1 {
		t.Fatalf("logged %d times in a burst, want once:\n%s", n, buf.String())
	}
	if !strings.Contains(buf.String(), "another error entirely") {
		t.Fatal("a different error was suppressed")
	}
	// After the reminder interval: once more, with the count.
	ok, n := pl.repeats.admit("background error: write /d/pebble/999999.sst: no space left on device", time.Now().Add(errorReminder+time.Second))
	if !ok || n != 499 {
		t.Fatalf("reminder: ok=%v count=%d, want true 499", ok, n)
	}
}
