package store

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/numax/numax/internal/defaults"
)

// SyncMode is the durability mode of writes, `[storage] sync` in the config.
type SyncMode int

const (
	// SyncInterval returns from a write at once; a background fsync makes it
	// durable within Config.SyncInterval. A crash loses at most the last
	// interval's writes, always a suffix in write order.
	SyncInterval SyncMode = iota
	// SyncAlways returns from a write after the fsync that covers it.
	// Concurrent writers share fsyncs (Pebble's group commit).
	SyncAlways
)

// String returns the config spelling of m.
func (m SyncMode) String() string {
	switch m {
	case SyncAlways:
		return "always"
	case SyncInterval:
		return "interval"
	}
	return fmt.Sprintf("SyncMode(%d)", int(m))
}

// ParseSyncMode parses the config spelling of a SyncMode.
func ParseSyncMode(s string) (SyncMode, error) {
	switch s {
	case "always":
		return SyncAlways, nil
	case "interval":
		return SyncInterval, nil
	}
	return 0, fmt.Errorf("sync mode %q: want \"always\" or \"interval\"", s)
}

// Config configures Open.
type Config struct {
	// Dir is the datastore directory; it is created when missing.
	Dir string
	// Sync is the durability mode.
	Sync SyncMode
	// SyncInterval bounds how long an acknowledged write may stay only in
	// memory in SyncInterval mode.
	SyncInterval time.Duration
	// Logger receives Pebble's own log lines and the store's. Nil discards.
	Logger *slog.Logger
	// ReadOnly opens an existing datastore without writing anything (for
	// nx inspect); a missing datastore is an error, not created.
	ReadOnly bool
	// MinFree is the free space the datastore's filesystem must keep
	// (`[storage] min_free_space`): below it writes are refused with a
	// *DegradedError until a quarter more is free again, well before
	// Pebble would meet ENOSPC. 0 checks nothing.
	MinFree int64
	// FreeSpace, if set, replaces the filesystem's free-space query (tests).
	FreeSpace func(dir string) (uint64, error)
}

// DefaultConfig returns the defaults: interval mode, 10 ms.
func DefaultConfig(dir string) Config {
	return Config{Dir: dir, Sync: SyncInterval, SyncInterval: defaults.SyncInterval, MinFree: defaults.MinFreeSpace}
}

func (c Config) validate() error {
	if c.Dir == "" {
		return fmt.Errorf("store: datastore path is empty")
	}
	if c.Sync != SyncAlways && c.Sync != SyncInterval {
		return fmt.Errorf("store: unknown sync mode %d", int(c.Sync))
	}
	if c.Sync == SyncInterval && c.SyncInterval <= 0 {
		return fmt.Errorf("store: sync_interval must be positive, got %s", c.SyncInterval)
	}
	return nil
}
