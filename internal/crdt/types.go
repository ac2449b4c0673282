package crdt

import (
	"bytes"
	"math"
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
