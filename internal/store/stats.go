package store

// DiskBytes returns the datastore's size on disk as Pebble accounts it.
func (s *Store) DiskBytes() uint64 {
	if err := s.acquire(); err != nil {
		return 0
	}
	defer s.release()
	return s.db.Metrics().DiskSpaceUsage()
}

// CountKeys counts the keys of a space (a full keys-only scan).
func (s *Store) CountKeys(sp Space) (int, error) {
	rows, err := s.Scan(sp, ScanOptions{KeysOnly: true})
	return len(rows), err
}
