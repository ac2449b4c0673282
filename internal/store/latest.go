package store

import (
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// SetLatest adds k = v in sp to the batch as a write a later SetLatest of
// the same key may replace before it reaches Pebble. In interval mode
// commits are grouped (group.go); a record rewritten by every commit (a
// counter, a vector entry) is then written to Pebble once per group, with
// the group's last value, instead of once per commit. Within its batch a
// SetLatest takes effect after the batch's other writes; across batches
// the order is kept (a batch whose other writes may touch a kept key, or
// that removes a range, applies the kept values first), and the group
// stays atomic as a whole.
func (b *Batch) SetLatest(sp Space, k, v []byte) {
	if b.lat == nil {
		b.lat = latBufs.Get().(*latBuf)
	}
	b.lat.buf = append(b.lat.buf, byte(sp))
	b.lat.buf = append(b.lat.buf, k...)
	b.lat.ends = append(b.lat.ends, len(b.lat.buf))
	b.lat.buf = append(b.lat.buf, v...)
	b.lat.ends = append(b.lat.ends, len(b.lat.buf))
}

// latBuf holds a batch's SetLatest writes: keys (with their space byte)
// and values back to back, ends[2i] and ends[2i+1] where each ends.
type latBuf struct {
	buf  []byte
	ends []int
}

var latBufs = sync.Pool{New: func() any { return new(latBuf) }}

// each calls f with every key (with its space byte) and value, in order.
func (l *latBuf) each(f func(k, v []byte)) {
	if l == nil {
		return
	}
	start := 0
	for i := 0; i+1 < len(l.ends); i += 2 {
		f(l.buf[start:l.ends[i]], l.buf[l.ends[i]:l.ends[i+1]])
		start = l.ends[i+1]
	}
}

func (b *Batch) releaseLatest() {
	if b.lat == nil {
		return
	}
	if cap(b.lat.buf) <= 1<<20 {
		b.lat.buf, b.lat.ends = b.lat.buf[:0], b.lat.ends[:0]
		latBufs.Put(b.lat)
	}
	b.lat = nil
}

// latestInto adds b's SetLatest writes to b's Pebble batch as plain
// writes.
func (b *Batch) latestInto() {
	b.lat.each(func(k, v []byte) { _ = b.b.Set(k, v, nil) })
}

// conflictsWithLatest reports whether b's other writes may touch a key
// whose latest value the group keeps: a write of it, or a range removal
// (s.pmu held).
func (s *Store) conflictsWithLatest(b *Batch) bool {
	if len(s.lat) == 0 {
		return false
	}
	r := b.b.Reader()
	for {
		kind, k, _, ok, err := r.Next()
		if err != nil || kind == pebble.InternalKeyKindRangeDelete {
			return true
		}
		if !ok {
			return false
		}
		if _, kept := s.lat[string(k)]; kept {
			return true
		}
	}
}

// keepLatest records b's SetLatest writes as the pending group's latest
// values (s.pmu held).
func (s *Store) keepLatest(b *Batch) {
	b.lat.each(func(k, v []byte) {
		if p, ok := s.lat[string(k)]; ok {
			*p = append((*p)[:0], v...)
			return
		}
		if s.lat == nil {
			s.lat = map[string]*[]byte{}
		}
		val := append([]byte(nil), v...)
		s.lat[string(k)] = &val
		s.latBytes += len(k) + len(v)
	})
}

// applyLatest writes the pending group's latest values into the pending
// batch (s.pmu held).
func (s *Store) applyLatest() {
	if len(s.lat) == 0 {
		return
	}
	if s.pend == nil {
		s.pend = s.groupBatch()
	}
	for k, p := range s.lat {
		_ = s.pend.Set([]byte(k), *p, nil)
	}
	clear(s.lat)
	s.latBytes = 0
}
