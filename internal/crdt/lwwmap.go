package crdt

import (
	"bytes"
	"encoding/binary"
	"slices"
)

// MapEntry is one LWW-Map field: a value or a tombstone, with its stamp.
type MapEntry struct {
	Stamp   Stamp
	Removed bool
	Value   []byte
}

// beats reports whether e wins over o: larger stamp; at an exact tie a
// tombstone beats a value, then larger bytes.
func (e MapEntry) beats(o MapEntry) bool {
	if c := e.Stamp.compare(o.Stamp); c != 0 {
		return c > 0
	}
	if e.Removed != o.Removed {
		return e.Removed
	}
	return bytes.Compare(e.Value, o.Value) > 0
}

func (e MapEntry) size(f string) int64 { return int64(len(f)+len(e.Value)+len(e.Stamp.Writer)) + 80 }

// LWWMap is a map of LWW fields with tombstones. Fields holds every field,
// or, for a backed map (NewBackedLWWMap), the resident ones.
type LWWMap struct {
	Fields map[string]MapEntry

	back  Backing
	cache *Cache
	size  int64
	dirty map[string]bool
}

// NewBackedLWWMap returns a map reading its fields from b, its resident
// ones counted in c.
func NewBackedLWWMap(b Backing, c *Cache) *LWWMap {
	return &LWWMap{Fields: map[string]MapEntry{}, back: b, cache: c, dirty: map[string]bool{}}
}

func (m *LWWMap) Type() Type { return TypeLWWMap }

// lookup returns field f, reading it from the backing if it is not resident.
func (m *LWWMap) lookup(f string) (MapEntry, bool) {
	if e, ok := m.Fields[f]; ok || m.back == nil {
		return e, ok
	}
	v, ok := m.back.Get([]byte(f))
	if !ok {
		return MapEntry{}, false
	}
	e, err := decodeMapEntry(v)
	if err != nil {
		return MapEntry{}, false
	}
	m.keep(f, e)
	return e, true
}

func (m *LWWMap) keep(f string, e MapEntry) {
	if m.Fields == nil {
		m.Fields = map[string]MapEntry{}
	}
	if m.back != nil {
		d := e.size(f)
		if old, ok := m.Fields[f]; ok {
			d -= old.size(f)
		}
		m.size += d
		m.cache.Used += d
	}
	m.Fields[f] = e
}

func (m *LWWMap) put(field string, e MapEntry) {
	if cur, ok := m.lookup(field); !ok || e.beats(cur) {
		m.keep(field, e)
		if m.back != nil {
			m.dirty[field] = true
		}
	}
}

func (m *LWWMap) Apply(op *Op) {
	e := MapEntry{Stamp: Stamp{HLC: op.HLC, Writer: op.Origin}, Removed: op.Kind == LWWMapRemove}
	if !e.Removed {
		e.Value = bytes.Clone(op.Value)
	}
	m.put(string(op.Field), e)
}

func (m *LWWMap) Merge(other Object) {
	other.(*LWWMap).each(func(f string, e MapEntry) bool {
		e.Value = bytes.Clone(e.Value)
		m.put(f, e)
		return true
	})
}

// each calls f with every field in field order until it returns false.
func (m *LWWMap) each(f func(field string, e MapEntry) bool) {
	if m.back == nil {
		keys := make([]string, 0, len(m.Fields))
		for k := range m.Fields {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if !f(k, m.Fields[k]) {
				return
			}
		}
		return
	}
	mergeKeys(m.dirty, m.back, func(k string, stored []byte, resident bool) bool {
		if resident {
			e, ok := m.Fields[k]
			if !ok {
				return true // collected (CollectRemoved), its record not yet deleted
			}
			return f(k, e)
		}
		if e, ok := m.Fields[k]; ok {
			return f(k, e)
		}
		e, err := decodeMapEntry(stored)
		if err != nil {
			return true // the replica read it at start; a bad record reads as absent
		}
		return f(k, e)
	})
}

// Get returns a visible field's value.
func (m *LWWMap) Get(field []byte) ([]byte, bool) {
	e, ok := m.lookup(string(field))
	if !ok || e.Removed {
		return nil, false
	}
	return e.Value, true
}

// Entries returns the visible fields in field order.
func (m *LWWMap) Entries() (fields, values [][]byte) {
	m.each(func(f string, e MapEntry) bool {
		if !e.Removed {
			fields = append(fields, []byte(f))
			values = append(values, e.Value)
		}
		return true
	})
	return fields, values
}

// Clone returns an unbacked copy holding every field.
func (m *LWWMap) Clone() Object {
	c := &LWWMap{}
	m.each(func(f string, e MapEntry) bool {
		e.Value = bytes.Clone(e.Value)
		c.keep(f, e)
		return true
	})
	return c
}

func (m *LWWMap) Backed() bool         { return m.back != nil }
func (m *LWWMap) ResidentBytes() int64 { return m.size }

func (m *LWWMap) Dirty() []Record {
	out := make([]Record, 0, len(m.dirty))
	for f := range m.dirty {
		e, ok := m.Fields[f]
		if !ok { // collected: the record goes
			out = append(out, Record{Sub: []byte(f)})
			continue
		}
		out = append(out, mapRecord(f, e))
	}
	return out
}

// Tombstones calls f with every removed field and its removal's stamp.
func (m *LWWMap) Tombstones(f func(field string, stamp Stamp)) {
	m.each(func(k string, e MapEntry) bool {
		if e.Removed {
			f(k, e.Stamp)
		}
		return true
	})
}

// CollectRemoved drops field if it is still the tombstone stamp left (a
// removal every replica holds, collected: docs/crdt.md); a later write
// keeps it. It returns the bytes freed.
func (m *LWWMap) CollectRemoved(field string, stamp Stamp) int {
	e, ok := m.lookup(field)
	if !ok || !e.Removed || e.Stamp != stamp {
		return 0
	}
	if m.back != nil {
		d := e.size(field)
		m.size -= d
		m.cache.Used -= d
		m.dirty[field] = true
	}
	delete(m.Fields, field)
	return len(field) + len(stamp.Writer) + binary.MaxVarintLen64 + 2
}

func (m *LWWMap) Clean() { clear(m.dirty) }

func (m *LWWMap) Evict() {
	if m.back == nil {
		return
	}
	for f, e := range m.Fields {
		if !m.dirty[f] {
			d := e.size(f)
			m.size -= d
			m.cache.Used -= d
			delete(m.Fields, f)
		}
	}
}
