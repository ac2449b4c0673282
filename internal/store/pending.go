package store

import (
	"hash/maphash"

	"github.com/cockroachdb/pebble/v2"
)

// Reads past the pending group. A read must see every completed write, so
// a read used to apply the pending group to Pebble first (group.go). A
// point read of a key the group does not write sees the same value
// without it. Applying a group also writes the op log's buffer ahead of
// it (oplog.go), a write(2) that a read per write (an LWW-Map field
// looked up before it is set) would otherwise pay each time: Get applies
// the group only when the key may be in it. Which keys are is learnt at
// read time, from the group's own records (scanned once each, into a
// filter of key hashes), so writers pay nothing for it.

var keySeed = maphash.MakeSeed()

func keyHash(k []byte) uint64 { return maphash.Bytes(keySeed, k) }

// pendBits is the size of the pending group's key filter: at the ~10,000
// keys a busy group writes, a key it does not write still looks written
// about 4 % of the time (and the group is applied for nothing).
const pendBits = 1 << 18

// scanPending adds to the filter the keys of the records appended to the
// pending batch since the last scan (s.pmu held).
func (s *Store) scanPending() {
	if s.pend == nil {
		return
	}
	r := s.pend.Reader()
	total := len(r)
	if s.pendScanned >= total {
		return
	}
	r = r[s.pendScanned:]
	if s.pendKeys == nil {
		s.pendKeys = new([pendBits / 64]uint64)
	}
	for {
		kind, k, _, ok, err := r.Next()
		if err != nil {
			s.pendRange = true // unreadable: read past nothing
			break
		}
		if !ok {
			break
		}
		if kind == pebble.InternalKeyKindRangeDelete {
			s.pendRange = true
			continue
		}
		i := keyHash(k) % pendBits
		s.pendKeys[i/64] |= 1 << (i % 64)
	}
	s.pendScanned = total
}

// pendingHas reports whether the pending group may write k (s.pmu held).
func (s *Store) pendingHas(k []byte) bool {
	if _, latest := s.lat[string(k)]; latest {
		return true
	}
	s.scanPending()
	if s.pendRange {
		return true
	}
	if s.pendScanned == 0 {
		return false
	}
	i := keyHash(k) % pendBits
	return s.pendKeys[i/64]&(1<<(i%64)) != 0
}

// clearPending forgets the pending group's keys (s.pmu held).
func (s *Store) clearPending() {
	if s.pendScanned > 0 {
		clear(s.pendKeys[:])
		s.pendScanned = 0
	}
	s.pendRange = false
}

// acquireReadKey is acquireRead for a point read of k (with its space
// byte): the pending group is applied first only if it may write k.
func (s *Store) acquireReadKey(k []byte) error {
	if err := s.acquire(); err != nil {
		return err
	}
	if !s.pending.Load() {
		return nil
	}
	s.pmu.Lock()
	var err error
	if s.pendingHas(k) {
		err = s.applyPendingLocked()
	}
	s.pmu.Unlock()
	if err != nil {
		s.release()
	}
	return err
}
