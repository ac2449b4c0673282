package crdt

import (
	"bytes"
	"math"
	"slices"
)

// Object is one CRDT value.
type Object interface {
	// Type returns the object's type.
	Type() Type
	// Apply applies an op of this type. Callers deliver each op exactly
	// once and in per-origin order (State does); Apply may assume both.
	Apply(op *Op)
	// Merge joins another object of the same type into this one. It is
	// commutative, associative and idempotent.
	Merge(other Object)
	// Clone returns a deep copy.
	Clone() Object
	// AppendBinary appends the canonical encoding: equal states encode to
	// equal bytes.
	AppendBinary(b []byte) []byte
}

// New returns the empty object of type t.
func New(t Type) Object {
	switch t {
	case TypeGCounter:
		return &GCounter{}
	case TypePNCounter:
		return &PNCounter{}
	case TypeLWWRegister:
		return &LWWRegister{}
	case TypeLWWMap:
		return &LWWMap{}
	case TypeORSet:
		return &ORSet{}
	case TypeRGA:
		return &RGA{}
	case TypeText:
		t := &Text{}
		t.init()
		return t
	}
	return nil
}

// ---- GCounter ----

// GCounter is a grow-only counter with one slot per origin.
type GCounter struct {
	Slots map[string]uint64
}

func (g *GCounter) Type() Type { return TypeGCounter }

func satAdd(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxUint64
}

// Add adds delta to origin's slot, saturating. A zero delta changes
// nothing (no empty slot is created, so equal states encode equally).
func (g *GCounter) Add(origin string, delta uint64) {
	if delta == 0 {
		return
	}
	if g.Slots == nil {
		g.Slots = map[string]uint64{}
	}
	g.Slots[origin] = satAdd(g.Slots[origin], delta)
}

func (g *GCounter) Apply(op *Op) { g.Add(op.Origin, op.Delta) }

func (g *GCounter) Merge(other Object) {
	for o, v := range other.(*GCounter).Slots {
		if v == 0 {
			continue
		}
		if g.Slots == nil {
			g.Slots = map[string]uint64{}
		}
		if v > g.Slots[o] {
			g.Slots[o] = v
		}
	}
}

// Value returns the sum of the slots, saturating at the u64 maximum.
func (g *GCounter) Value() uint64 {
	var s uint64
	for _, v := range g.Slots {
		s = satAdd(s, v)
	}
	return s
}

func (g *GCounter) Clone() Object {
	c := &GCounter{}
	if g.Slots != nil {
		c.Slots = make(map[string]uint64, len(g.Slots))
		for k, v := range g.Slots {
			c.Slots[k] = v
		}
	}
	return c
}

// ---- PNCounter ----

// PNCounter is two GCounters: increments P and decrements N.
type PNCounter struct {
	P, N GCounter
}

func (p *PNCounter) Type() Type { return TypePNCounter }

func (p *PNCounter) Apply(op *Op) {
	if op.Kind == PNCounterDec {
		p.N.Add(op.Origin, op.Delta)
	} else {
		p.P.Add(op.Origin, op.Delta)
	}
}

func (p *PNCounter) Merge(other Object) {
	o := other.(*PNCounter)
	p.P.Merge(&o.P)
	p.N.Merge(&o.N)
}

// Value returns P - N, computed without overflow and clamped to int64.
func (p *PNCounter) Value() int64 {
	pos, neg := p.P.Value(), p.N.Value()
	if pos >= neg {
		if d := pos - neg; d <= math.MaxInt64 {
			return int64(d)
		}
		return math.MaxInt64
	}
	if d := neg - pos; d <= math.MaxInt64 {
		return -int64(d)
	}
	return math.MinInt64
}

func (p *PNCounter) Clone() Object {
	return &PNCounter{P: *p.P.Clone().(*GCounter), N: *p.N.Clone().(*GCounter)}
}

// ---- LWW ----

// Stamp orders last-writer-wins writes: by HLC, then writer NodeId.
type Stamp struct {
	HLC    uint64
	Writer string
}

func (s Stamp) compare(o Stamp) int {
	switch {
	case s.HLC != o.HLC:
		if s.HLC > o.HLC {
			return 1
		}
		return -1
	case s.Writer != o.Writer:
		if s.Writer > o.Writer {
			return 1
		}
		return -1
	}
	return 0
}

// LWWRegister holds the value of the write with the largest (HLC, writer);
// equal stamps (impossible for honest nodes) fall back to the larger bytes.
type LWWRegister struct {
	Set   bool
	Stamp Stamp
	Value []byte
}

func (r *LWWRegister) Type() Type { return TypeLWWRegister }

// wins reports whether (s, v) beats the register's current write.
func (r *LWWRegister) wins(s Stamp, v []byte) bool {
	if !r.Set {
		return true
	}
	if c := s.compare(r.Stamp); c != 0 {
		return c > 0
	}
	return bytes.Compare(v, r.Value) > 0
}

func (r *LWWRegister) Apply(op *Op) {
	s := Stamp{HLC: op.HLC, Writer: op.Origin}
	if r.wins(s, op.Value) {
		r.Set, r.Stamp, r.Value = true, s, bytes.Clone(op.Value)
	}
}

func (r *LWWRegister) Merge(other Object) {
	o := other.(*LWWRegister)
	if o.Set && r.wins(o.Stamp, o.Value) {
		r.Set, r.Stamp, r.Value = true, o.Stamp, bytes.Clone(o.Value)
	}
}

func (r *LWWRegister) Clone() Object {
	return &LWWRegister{Set: r.Set, Stamp: r.Stamp, Value: bytes.Clone(r.Value)}
}

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

// LWWMap is a map of LWW fields with tombstones.
type LWWMap struct {
	Fields map[string]MapEntry
}

func (m *LWWMap) Type() Type { return TypeLWWMap }

func (m *LWWMap) put(field string, e MapEntry) {
	if m.Fields == nil {
		m.Fields = map[string]MapEntry{}
	}
	if cur, ok := m.Fields[field]; !ok || e.beats(cur) {
		m.Fields[field] = e
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
	for f, e := range other.(*LWWMap).Fields {
		e.Value = bytes.Clone(e.Value)
		m.put(f, e)
	}
}

// Get returns a visible field's value.
func (m *LWWMap) Get(field []byte) ([]byte, bool) {
	e, ok := m.Fields[string(field)]
	if !ok || e.Removed {
		return nil, false
	}
	return e.Value, true
}

// Entries returns the visible fields in field order.
func (m *LWWMap) Entries() (fields, values [][]byte) {
	keys := make([]string, 0, len(m.Fields))
	for f, e := range m.Fields {
		if !e.Removed {
			keys = append(keys, f)
		}
	}
	slices.Sort(keys)
	for _, f := range keys {
		fields = append(fields, []byte(f))
		values = append(values, m.Fields[f].Value)
	}
	return fields, values
}

func (m *LWWMap) Clone() Object {
	c := &LWWMap{}
	if m.Fields != nil {
		c.Fields = make(map[string]MapEntry, len(m.Fields))
		for f, e := range m.Fields {
			e.Value = bytes.Clone(e.Value)
			c.Fields[f] = e
		}
	}
	return c
}

// ---- ORSet ----

// SetElem is one ORSet element's add tags and removed tags.
type SetElem struct {
	Adds, Removes map[OpID]struct{}
}

func (e *SetElem) live() []OpID {
	var tags []OpID
	for t := range e.Adds {
		if _, gone := e.Removes[t]; !gone {
			tags = append(tags, t)
		}
	}
	slices.SortFunc(tags, compareID)
	return tags
}

// ORSet is an observed-remove set: an element is present while one of its
// add tags is not named by a remove. A remove that arrives before its add
// still removes it.
type ORSet struct {
	Elems map[string]*SetElem
}

func (s *ORSet) Type() Type { return TypeORSet }

func (s *ORSet) elem(e string) *SetElem {
	if s.Elems == nil {
		s.Elems = map[string]*SetElem{}
	}
	el := s.Elems[e]
	if el == nil {
		el = &SetElem{Adds: map[OpID]struct{}{}, Removes: map[OpID]struct{}{}}
		s.Elems[e] = el
	}
	return el
}

func (s *ORSet) Apply(op *Op) {
	el := s.elem(string(op.Field))
	if op.Kind == ORSetRemove {
		for _, t := range op.Tags {
			el.Removes[t] = struct{}{}
		}
		return
	}
	el.Adds[op.ID()] = struct{}{}
}

func (s *ORSet) Merge(other Object) {
	for e, oe := range other.(*ORSet).Elems {
		el := s.elem(e)
		for t := range oe.Adds {
			el.Adds[t] = struct{}{}
		}
		for t := range oe.Removes {
			el.Removes[t] = struct{}{}
		}
	}
}

// Contains reports whether e is present.
func (s *ORSet) Contains(e []byte) bool {
	el := s.Elems[string(e)]
	return el != nil && len(el.live()) > 0
}

// Observed returns e's live add tags (what a local remove must name).
func (s *ORSet) Observed(e []byte) []OpID {
	if el := s.Elems[string(e)]; el != nil {
		return el.live()
	}
	return nil
}

// Elements returns the present elements, sorted.
func (s *ORSet) Elements() [][]byte {
	var out []string
	for e, el := range s.Elems {
		if len(el.live()) > 0 {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	b := make([][]byte, len(out))
	for i, e := range out {
		b[i] = []byte(e)
	}
	return b
}

func (s *ORSet) Clone() Object {
	c := &ORSet{}
	for e, el := range s.Elems {
		ce := c.elem(e)
		for t := range el.Adds {
			ce.Adds[t] = struct{}{}
		}
		for t := range el.Removes {
			ce.Removes[t] = struct{}{}
		}
	}
	return c
}
