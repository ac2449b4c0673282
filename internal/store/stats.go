package store

import "context"

// DiskBytes returns the datastore's size on disk as Pebble accounts it.
func (s *Store) DiskBytes() uint64 {
	if err := s.acquireRead(); err != nil {
		return 0
	}
	defer s.release()
	return s.db.Metrics().DiskSpaceUsage() + uint64(s.oplog.bytes())
}

// CountKeys counts the keys of a space (a full keys-only scan).
func (s *Store) CountKeys(sp Space) (int, error) {
	rows, err := s.Scan(sp, ScanOptions{KeysOnly: true})
	return len(rows), err
}

// Compact flushes the memtable and compacts every key into the bottom
// level, so DiskBytes then counts live data only (benchmarks measure
// on-disk size this way).
func (s *Store) Compact(ctx context.Context) error {
	if err := s.acquireRead(); err != nil {
		return err
	}
	defer s.release()
	if err := s.oplog.compact(); err != nil {
		return err
	}
	if err := s.db.Flush(); err != nil {
		return err
	}
	return s.db.Compact(ctx, []byte{0}, []byte{0xff, 0xff}, true)
}

// TableBytes returns the bytes of the live tables: the data after
// compaction, without the WAL and obsolete files DiskBytes also counts.
func (s *Store) TableBytes() uint64 {
	if err := s.acquireRead(); err != nil {
		return 0
	}
	defer s.release()
	return uint64(s.db.Metrics().Total().TablesSize)
}
