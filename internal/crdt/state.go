package crdt

import (
	"bytes"
	"encoding/binary"
	"slices"
)

// DefaultMaxPending bounds the ops held per origin while a gap is open; ops
// beyond it are dropped and come back through anti-entropy.
const DefaultMaxPending = 4096

// Delivery says what Deliver did with an op.
type Delivery int

const (
	// Applied: the op was the next of its origin (and may have released
	// buffered ones).
	Applied Delivery = iota
	// Duplicate: at or below the version vector; ignored.
	Duplicate
	// Buffered: ahead of a gap; held until the gap fills.
	Buffered
	// Dropped: ahead of a gap with the buffer full; anti-entropy resends it.
	Dropped
)

// State is a set of objects with the version vector of the ops they
// reflect. Deliver gives exactly-once, per-origin-ordered application.
type State struct {
	Objects map[ObjKey]Object
	// VV maps each origin to the highest seq such that all of 1..seq are
	// applied.
	VV map[string]uint64
	// MaxPending bounds the per-origin gap buffer.
	MaxPending int
	// NewObject, if set, makes the object for a key first written (a
	// replica makes maps and sets backed by its store); else New.
	NewObject func(k ObjKey) Object
	// Unloaded holds the objects that exist but are not in Objects (a
	// replica's RGAs and Texts not read since the start, or unloaded):
	// Get reads one with Load, keeps it and then calls OnLoad, if set.
	// Iterations over Objects do not see them; Keys, Peek and the
	// whole-state methods do.
	Unloaded map[ObjKey]bool
	Load     func(k ObjKey) Object
	OnLoad   func(k ObjKey, obj Object)

	pending map[string]map[uint64]*Op
	one     [1]*Op // Deliver's answer when it applied op alone
}

// NewState returns an empty state.
func NewState() *State {
	return &State{Objects: map[ObjKey]Object{}, VV: map[string]uint64{}, MaxPending: DefaultMaxPending,
		pending: map[string]map[uint64]*Op{}}
}

// Get returns the object k, or nil; an unloaded one is loaded and kept.
func (s *State) Get(k ObjKey) Object {
	if obj := s.Objects[k]; obj != nil || !s.Unloaded[k] {
		return obj
	}
	obj := s.Load(k)
	if obj != nil {
		delete(s.Unloaded, k)
		s.Objects[k] = obj
		if s.OnLoad != nil {
			s.OnLoad(k, obj)
		}
	}
	return obj
}

// Peek returns the object k like Get, but an unloaded one is read and not
// kept, and OnLoad is not called (a whole-state walk: an encoding, a
// snapshot to send).
func (s *State) Peek(k ObjKey) Object {
	if obj := s.Objects[k]; obj != nil || !s.Unloaded[k] {
		return obj
	}
	return s.Load(k)
}

// Unload moves object k out of memory: the next Get loads it again. Only
// an object whose every change is stored may be unloaded.
func (s *State) Unload(k ObjKey) {
	if s.Objects[k] == nil || s.Load == nil {
		return
	}
	delete(s.Objects, k)
	if s.Unloaded == nil {
		s.Unloaded = map[ObjKey]bool{}
	}
	s.Unloaded[k] = true
}

// Keys returns the keys of every object, loaded or not, in no order.
func (s *State) Keys() []ObjKey {
	keys := make([]ObjKey, 0, len(s.Objects)+len(s.Unloaded))
	for k := range s.Objects {
		keys = append(keys, k)
	}
	for k := range s.Unloaded {
		if s.Objects[k] == nil {
			keys = append(keys, k)
		}
	}
	return keys
}

// LoadAll loads every unloaded object.
func (s *State) LoadAll() {
	for k := range s.Unloaded {
		s.Get(k)
	}
}

// Deliver hands op to the state and returns what happened and every op
// applied as a result, in application order (op itself and any buffered ops
// of its origin it released).
//
// The slice of applied ops is valid until the next Deliver.
func (s *State) Deliver(op *Op) (Delivery, []*Op) {
	next := s.VV[op.Origin] + 1
	switch {
	case op.Seq < next:
		return Duplicate, nil
	case op.Seq > next:
		p := s.pending[op.Origin]
		if _, ok := p[op.Seq]; ok {
			return Duplicate, nil
		}
		if len(p) >= s.MaxPending {
			return Dropped, nil
		}
		if p == nil {
			p = map[uint64]*Op{}
			s.pending[op.Origin] = p
		}
		p[op.Seq] = op
		return Buffered, nil
	}
	s.apply(op)
	if more := s.drain(op.Origin, false); len(more) > 0 {
		return Applied, append([]*Op{op}, more...)
	}
	// Most deliveries apply op alone: the answer is the state's own
	// one-element array, valid until the next Deliver.
	s.one[0] = op
	return Applied, s.one[:]
}

// Skip moves the vector past op without applying it to an object: its
// object is not in memory and its records were written another way (a
// sequence's view, internal/seqview; the object is read from them when
// next used). It does so, and reports true, only if op is its origin's next
// and no op of that origin waits behind a gap.
func (s *State) Skip(op *Op) bool {
	if op.Seq != s.VV[op.Origin]+1 || len(s.pending[op.Origin]) > 0 || s.Objects[op.Obj()] != nil {
		return false
	}
	s.VV[op.Origin] = op.Seq
	return true
}

// drain applies buffered ops of origin that are now next: m released ops
// cost m map look-ups. Entries the vector already covers can only come from
// a merge (Deliver moves the vector one by one and buffers only ops ahead
// of it); the merge sweeps them, once, with sweep.
func (s *State) drain(origin string, sweep bool) []*Op {
	p := s.pending[origin]
	if len(p) == 0 {
		return nil
	}
	if sweep {
		v := s.VV[origin]
		for seq := range p {
			if seq <= v {
				delete(p, seq)
			}
		}
	}
	var applied []*Op
	for {
		op, ok := p[s.VV[origin]+1]
		if !ok {
			break
		}
		delete(p, op.Seq)
		s.apply(op)
		applied = append(applied, op)
	}
	if len(p) == 0 {
		delete(s.pending, origin)
	}
	return applied
}

func (s *State) apply(op *Op) {
	k := op.Obj()
	obj := s.Get(k)
	if obj == nil {
		obj = s.newObject(k)
		s.Objects[k] = obj
	}
	obj.Apply(op)
	s.VV[op.Origin] = op.Seq
}

// Pending returns how many ops wait behind gaps.
func (s *State) Pending() int {
	n := 0
	for _, p := range s.pending {
		n += len(p)
	}
	return n
}

// Merge joins another state into s (state-based path): every object is
// merged and the version vector becomes the pointwise maximum. Buffered ops
// the merge made next are applied and returned; ones it covered are dropped.
func (s *State) Merge(o *State) []*Op {
	for k, obj := range o.Objects {
		s.MergeObject(k, obj)
	}
	var origins []string
	for origin, seq := range o.VV {
		if seq > s.VV[origin] {
			s.VV[origin] = seq
			origins = append(origins, origin)
		}
	}
	slices.Sort(origins)
	var applied []*Op
	for _, origin := range origins {
		applied = append(applied, s.drain(origin, true)...)
	}
	return applied
}

// MergeObject merges one object into the state (cloning it).
func (s *State) MergeObject(k ObjKey, obj Object) {
	cur := s.Get(k)
	if cur == nil {
		if s.NewObject == nil {
			s.Objects[k] = obj.Clone()
			return
		}
		cur = s.newObject(k)
		s.Objects[k] = cur
	}
	cur.Merge(obj)
}

// Clone returns a deep copy (without the gap buffer), every object loaded.
func (s *State) Clone() *State {
	c := NewState()
	for _, k := range s.Keys() {
		if obj := s.Peek(k); obj != nil {
			c.Objects[k] = obj.Clone()
		}
	}
	for o, v := range s.VV {
		c.VV[o] = v
	}
	return c
}

// AppendBinary appends a canonical encoding of the objects and the vector,
// so two states are equal exactly when their encodings are.
func (s *State) AppendBinary(b []byte) []byte {
	keys := s.Keys()
	slices.SortFunc(keys, func(a, b ObjKey) int {
		if a.Type != b.Type {
			return int(a.Type) - int(b.Type)
		}
		return bytes.Compare([]byte(a.Key), []byte(b.Key))
	})
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = append(b, byte(k.Type))
		b = binary.AppendUvarint(b, uint64(len(k.Key)))
		b = append(b, k.Key...)
		obj := s.Peek(k)
		if obj == nil { // unreadable (the store failed; the owner knows)
			obj = New(k.Type)
		}
		b = obj.AppendBinary(b)
	}
	origins := sortedKeys(s.VV)
	b = binary.AppendUvarint(b, uint64(len(origins)))
	for _, o := range origins {
		b = binary.AppendUvarint(append(binary.AppendUvarint(b, uint64(len(o))), o...), s.VV[o])
	}
	return b
}

func (s *State) newObject(k ObjKey) Object {
	if s.NewObject != nil {
		return s.NewObject(k)
	}
	return New(k.Type)
}
