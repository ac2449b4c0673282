package store

import (
	"bytes"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// ScanOptions selects one page of an ordered prefix scan.
type ScanOptions struct {
	// Prefix bounds the scan to keys that start with it (empty = all).
	Prefix []byte
	// Offset skips this many rows first (offset paging).
	Offset uint64
	// After, when non-empty, starts strictly after this key (key paging).
	// It must start with Prefix.
	After []byte
	// Limit is the largest number of rows returned; 0 means no limit.
	Limit int
	// KeysOnly leaves Row.Value nil.
	KeysOnly bool
	// MaxBytes, when positive, bounds the key and value bytes of the page:
	// once the rows read pass it, Scan stops with ErrTooLarge instead of
	// holding more in memory. Callers pass the buffer the page must fit in.
	MaxBytes int
	// Skip, when set, hides the rows whose key it returns true for; hidden
	// rows do not count towards Offset or Limit.
	Skip func(key []byte) bool
}

// Scan returns rows of sp in ascending key order, per o.
func (s *Store) Scan(sp Space, o ScanOptions) (_ []Row, err error) {
	defer recoverFatal(&err)
	if err := s.acquireRead(); err != nil {
		return nil, err
	}
	defer s.release()
	if len(o.After) > 0 && !bytes.HasPrefix(o.After, o.Prefix) {
		return nil, fmt.Errorf("scan: cursor does not start with the prefix")
	}
	lower := key(sp, o.Prefix)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	var valid bool
	if len(o.After) > 0 {
		after := key(sp, o.After)
		valid = it.SeekGE(after)
		if valid && bytes.Equal(it.Key(), after) {
			valid = it.Next()
		}
	} else {
		valid = it.First()
	}
	var rows []Row
	skipped := uint64(0)
	size := 0
	for ; valid; valid = it.Next() {
		k := it.Key()[1:]
		if o.Skip != nil && o.Skip(k) {
			continue
		}
		if skipped < o.Offset {
			skipped++
			continue
		}
		if o.Limit > 0 && len(rows) >= o.Limit {
			break
		}
		r := Row{Key: bytes.Clone(k)}
		if r.Key == nil {
			r.Key = []byte{}
		}
		if !o.KeysOnly {
			v, err := it.ValueAndErr()
			if err != nil {
				_ = it.Close()
				return nil, fmt.Errorf("scan: read value: %w", err)
			}
			r.Value = bytes.Clone(v)
			if r.Value == nil {
				r.Value = []byte{}
			}
		}
		rows = append(rows, r)
		if o.MaxBytes > 0 {
			size += len(r.Key) + len(r.Value)
			if size > o.MaxBytes {
				_ = it.Close()
				return nil, ErrTooLarge
			}
		}
	}
	if err := it.Error(); err != nil {
		_ = it.Close()
		return nil, fmt.Errorf("scan: %w", err)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	return rows, nil
}

// prefixEnd returns the smallest key greater than every key with prefix p.
// p always starts with a space byte below 0xff, so the result exists.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// PrefixEnd is the smallest key after every key that starts with p (nil if
// there is none).
func PrefixEnd(p []byte) []byte { return prefixEnd(p) }

// Each calls f with every row under prefix strictly after after (nil: from
// the first), in key order, until f returns false. Keys and values are
// only valid during the call. It reads as it goes: memory stays bounded
// whatever the rows.
func (s *Store) Each(sp Space, prefix, after []byte, f func(k, v []byte) bool) (err error) {
	defer recoverFatal(&err)
	if err := s.acquireRead(); err != nil {
		return err
	}
	defer s.release()
	lower := key(sp, prefix)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	var valid bool
	if len(after) > 0 {
		a := key(sp, after)
		valid = it.SeekGE(a)
		if valid && bytes.Equal(it.Key(), a) {
			valid = it.Next()
		}
	} else {
		valid = it.First()
	}
	for ; valid; valid = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return fmt.Errorf("scan: read value: %w", err)
		}
		if !f(it.Key()[1:], v) {
			break
		}
	}
	return it.Close()
}

// Seek returns the first key of the space at or after from.
func (s *Store) Seek(sp Space, from []byte) (_ []byte, ok bool, err error) {
	defer recoverFatal(&err)
	if err := s.acquireRead(); err != nil {
		return nil, false, err
	}
	defer s.release()
	lower := key(sp, nil)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return nil, false, fmt.Errorf("seek: %w", err)
	}
	if it.SeekGE(key(sp, from)) {
		k := bytes.Clone(it.Key()[1:])
		return k, true, it.Close()
	}
	return nil, false, it.Close()
}
