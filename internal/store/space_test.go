package store

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/numax/numax/internal/testutil"
)

// A filesystem below min_free_space: writes are refused at once with a
// DegradedError naming the reason, reads go on, and writes resume by
// themselves once a quarter more than the minimum is free.
func TestDiskFull_RefusesWritesAndResumes(t *testing.T) {
	var free atomic.Uint64
	free.Store(1 << 30)
	cfg := DefaultConfig(t.TempDir())
	cfg.MinFree = 64 << 20
	cfg.FreeSpace = func(string) (uint64, error) { return free.Load(), nil }
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Set(Guest, []byte("k"), []byte("before")); err != nil {
		t.Fatal(err)
	}
	free.Store(10 << 20)
	testutil.Eventually(t, 5*time.Second, "degraded", func() bool { return s.Degraded() == ReasonDiskFull })
	start := time.Now()
	_, err = s.Set(Guest, []byte("k"), []byte("during"))
	var d *DegradedError
	if !errors.As(err, &d) || d.Reason != ReasonDiskFull || !errors.Is(err, ErrDegraded) {
		t.Fatalf("write on a full disk: %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("the refusal took %s", took)
	}
	if v, err := s.Get(Guest, []byte("k")); err != nil || string(v) != "before" {
		t.Fatalf("read while degraded: %q %v", v, err)
	}
	// Just above the minimum is not enough (no flapping)...
	free.Store(65 << 20)
	s.checkSpace() // what the background loop does every second
	if s.Degraded() == "" {
		t.Fatal("resumed at 65 MiB free, minimum 64 MiB: no hysteresis")
	}
	// ...a quarter more is, without a writer having to try.
	free.Store(81 << 20)
	testutil.Eventually(t, 5*time.Second, "writes resumed", func() bool { return s.Degraded() == "" })
	if _, err := s.Set(Guest, []byte("k"), []byte("after")); err != nil {
		t.Fatal(err)
	}
}

// A fatal error in one of Pebble's own goroutines (a flush, a compaction)
// cannot be recovered by a caller: the goroutine ends, the store is failed
// with one log line, every later call returns the error (no crash, no
// hang), and Close does not wait on Pebble.
func TestBackgroundFatal_FailsTheStoreNotTheProcess(t *testing.T) {
	s, err := Open(DefaultConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	logger := s.plog
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		logger.Fatalf("pebble: MANIFEST flush failed: %s", "no space left on device")
		t.Error("Fatalf returned")
	}()
	<-ended
	if s.Degraded() != ReasonFailed {
		t.Fatalf("degraded %q, want %q", s.Degraded(), ReasonFailed)
	}
	var fe *FatalError
	if _, err := s.Get(Guest, []byte("k")); !errors.As(err, &fe) || !strings.Contains(err.Error(), "MANIFEST flush failed") {
		t.Fatalf("Get after the fatal: %v", err)
	}
	if _, err := s.Set(Guest, []byte("k"), []byte("v")); err == nil {
		t.Fatal("a write after the fatal succeeded")
	}
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung after a fatal")
	}
}
