package store

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Group commit (interval mode). A commit in interval mode returns before
// its write is fsynced (docs/crdt.md: a crash may lose the writes of the
// last sync_interval, as a suffix in write order), so it need not reach
// Pebble at once either: commits are appended, in order, to one pending
// batch that is applied as a whole when it passes groupBytes, before
// every read (a read sees every completed write), before every fsync and
// at Close. Pebble's per-commit work (sequence numbers, a WAL record, the
// commit pipeline) is then paid once per group instead of once per write.
// The pending batch is atomic like any other, so a crash still loses only
// a suffix, never a hole or half a caller's batch.

// groupBytes is the size at which the pending batch is applied.
const groupBytes = 1 << 20

// groupBatch returns a batch for the pending group (s.pmu held): the one
// the last group used, kept with its buffer (sized for a group, so it
// does not grow by doubling write after write), or a new one.
func (s *Store) groupBatch() *pebble.Batch {
	if b := s.spare; b != nil {
		s.spare = nil
		return b
	}
	return s.db.NewBatch(pebble.WithInitialSizeBytes(groupBytes+groupBytes/4), pebble.WithMaxRetainedSizeBytes(2*groupBytes))
}

// deferCommit appends b to the pending batch and numbers it (life held).
func (s *Store) deferCommit(b *Batch) (uint64, error) {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	// The log's records are appended in the same order as the Pebble
	// writes, and written ahead of them (applyPendingLocked).
	if _, err := s.oplog.append(b.logRecords()); err != nil {
		b.Discard()
		return 0, fmt.Errorf("commit: %w", err)
	}
	if b.b.Count() > 0 {
		// Other writes after the latest values kept so far: if one of
		// them may touch a kept key, those go first, in order.
		if s.conflictsWithLatest(b) {
			s.applyLatest()
		}
		if s.pend == nil && b.b.Len() >= groupBytes {
			s.pend, b.b = b.b, nil // a group by itself: not copied
		} else {
			if s.pend == nil {
				s.pend = s.groupBatch()
			}
			if err := s.pend.Apply(b.b, nil); err != nil {
				b.Discard()
				return 0, fmt.Errorf("commit: %w", err)
			}
		}
	}
	s.keepLatest(b)
	b.Discard()
	n := s.written.Add(1)
	s.pending.Store(true)
	if s.pendBytes() >= groupBytes {
		if err := s.applyPendingLocked(); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// applyPending applies the pending batch (life held) and returns the
// number of the last write it holds: every write numbered up to it is
// then in Pebble.
func (s *Store) applyPending() (uint64, error) {
	if !s.pending.Load() {
		return s.written.Load(), nil
	}
	s.pmu.Lock()
	defer s.pmu.Unlock()
	if err := s.applyPendingLocked(); err != nil {
		return 0, err
	}
	return s.written.Load(), nil
}

// pendBytes is the size of the pending group (s.pmu held).
func (s *Store) pendBytes() int {
	n := s.latBytes
	if s.pend != nil {
		n += s.pend.Len()
	}
	return n
}

func (s *Store) applyPendingLocked() error {
	s.applyLatest()
	s.clearPending()
	if s.pend == nil {
		err := s.oplog.flush()
		if err == nil {
			s.pending.Store(false)
		}
		return err
	}
	// The log's records reach their file before Pebble's WAL gets the
	// writes they go with: a crash leaves the log holding at least what
	// the vector says is applied (oplog.go).
	if err := s.oplog.flush(); err != nil {
		err = fmt.Errorf("apply grouped writes: %w", err)
		s.syncErr.Store(&err)
		s.wake()
		return err
	}
	b := s.pend
	s.pend = nil
	// pending clears only once Pebble holds the writes: a reader that
	// sees it clear (without pmu) must find them there.
	defer s.pending.Store(false)
	if err := s.db.Apply(b, pebble.NoSync); err != nil {
		b.Close()
		// Writes already acknowledged are lost: like a failed fsync,
		// nothing after this is durable (WaitDurable reports it).
		err = fmt.Errorf("apply grouped writes: %w", err)
		s.syncErr.Store(&err)
		s.wake()
		return err
	}
	// Kept for the next group (a batch applied may be reset and reused).
	b.Reset()
	if s.spare == nil {
		s.spare = b
	} else {
		b.Close()
	}
	return nil
}

// acquireRead is acquire for a read: the pending writes are applied first,
// so the read sees every completed write.
func (s *Store) acquireRead() error {
	if err := s.acquire(); err != nil {
		return err
	}
	if _, err := s.applyPending(); err != nil {
		s.release()
		return err
	}
	return nil
}
