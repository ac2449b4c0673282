package store

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Reasons a store is degraded (Degraded, DegradedError).
const (
	// ReasonDiskFull: the free space on the datastore's filesystem is
	// below Config.MinFree, or Pebble met ENOSPC.
	ReasonDiskFull = "disk_full"
)

// DegradedError is a write refused because the store is degraded: reads go
// on, and writes resume by themselves once the cause is gone.
type DegradedError struct {
	Reason string
	Detail string
}

func (e *DegradedError) Error() string {
	return fmt.Sprintf("datastore degraded (%s): writes refused until it clears: %s", e.Reason, e.Detail)
}

// ErrDegraded matches every *DegradedError with errors.Is.
var ErrDegraded = errors.New("datastore degraded")

// Is makes errors.Is(err, ErrDegraded) true.
func (e *DegradedError) Is(target error) bool { return target == ErrDegraded }

// spaceCheckEvery is how often a write looks at the free space (between
// checks it reads one atomic); spaceLoopEvery how often the background
// loop does, and so how soon writes resume once space returns; remindEvery
// how often a degraded store logs that it still is.
const (
	spaceCheckEvery = 100 * time.Millisecond
	spaceLoopEvery  = time.Second
	remindEvery     = time.Minute
)

// ReasonFailed: Pebble met a fatal error in a background goroutine.
const ReasonFailed = "store_failed"

// Degraded returns why writes are refused, or "" when they are not.
func (s *Store) Degraded() string {
	if s.failed.Load() != nil {
		return ReasonFailed
	}
	if d := s.degraded.Load(); d != nil {
		return d.Reason
	}
	return ""
}

// CheckWritable returns a *DegradedError when writes are refused now. A
// caller that changes memory before committing (the replica) asks first
// and then commits with CommitUnchecked, so memory and disk never part.
func (s *Store) CheckWritable() error {
	if s.cfg.ReadOnly {
		return nil
	}
	// Looked at every spaceCheckEvery, and whenever a sixteenth of the
	// minimum was written since: a fast writer cannot run through it.
	now := time.Now().UnixNano()
	if now-s.spaceChecked.Load() >= int64(spaceCheckEvery) || s.sinceCheck.Load() >= s.cfg.MinFree/16 {
		s.spaceChecked.Store(now)
		s.sinceCheck.Store(0)
		s.checkSpace()
	}
	if d := s.degraded.Load(); d != nil {
		return d
	}
	if f := s.failed.Load(); f != nil {
		return f
	}
	return nil
}

// freeBytes is the space available to this process on the datastore's
// filesystem.
func (s *Store) freeBytes() (uint64, error) {
	if s.cfg.FreeSpace != nil {
		return s.cfg.FreeSpace(s.cfg.Dir)
	}
	u, err := pebbleFS().GetDiskUsage(s.cfg.Dir)
	return u.AvailBytes, err
}

// checkSpace degrades the store when the free space is below MinFree and
// clears a disk-full state once it is a quarter above it (and Pebble's
// last background error, if ENOSPC, has been followed by a success).
func (s *Store) checkSpace() {
	if s.cfg.MinFree <= 0 {
		return
	}
	free, err := s.freeBytes()
	if err != nil {
		return // not knowable here: Pebble's own errors still degrade it
	}
	min := uint64(s.cfg.MinFree)
	switch d := s.degraded.Load(); {
	case free < min:
		s.degrade(ReasonDiskFull, fmt.Sprintf("%d bytes free on the datastore's filesystem, below min_free_space (%d)", free, min))
	case d != nil && d.Reason == ReasonDiskFull && free >= min+min/4 && !s.enospc.Load():
		if s.degraded.CompareAndSwap(d, nil) {
			s.log.Info("datastore writes resumed: space is back", "free_bytes", free)
		}
	}
}

// degrade refuses writes for reason, logging once (then remindLoop).
func (s *Store) degrade(reason, detail string) {
	d := &DegradedError{Reason: reason, Detail: detail}
	if s.degraded.CompareAndSwap(nil, d) {
		s.log.Error("datastore degraded: writes refused (guests get -3), reads go on", "reason", reason, "detail", detail)
		s.reminded.Store(time.Now().UnixNano())
	}
}

// spaceLoop rechecks the free space every spaceLoopEvery, so writes
// resume without a writer having to try, and reminds while degraded.
func (s *Store) spaceLoop(stop <-chan struct{}) {
	defer s.wg.Done()
	t := time.NewTicker(spaceLoopEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		s.checkSpace()
		if d := s.degraded.Load(); d != nil {
			now := time.Now().UnixNano()
			if now-s.reminded.Load() >= int64(remindEvery) {
				s.reminded.Store(now)
				s.log.Warn("datastore still degraded: writes refused", "reason", d.Reason, "detail", d.Detail)
			}
		}
	}
}

// listener turns Pebble's background ENOSPC into a disk-full state (and a
// later successful flush or compaction into its end).
func (s *Store) listener() pebble.EventListener {
	ok := func() {
		if s.enospc.CompareAndSwap(true, false) {
			s.checkSpace()
		}
	}
	return pebble.EventListener{
		BackgroundError: func(err error) {
			if errors.Is(err, syscall.ENOSPC) {
				s.enospc.Store(true)
				s.degrade(ReasonDiskFull, "the filesystem is full: "+err.Error())
			}
		},
		FlushEnd: func(info pebble.FlushInfo) {
			if info.Err == nil {
				ok()
			}
		},
		CompactionEnd: func(info pebble.CompactionInfo) {
			if info.Err == nil {
				ok()
			}
		},
	}
}
