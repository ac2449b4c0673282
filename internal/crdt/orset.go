package crdt

import "slices"

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

func (e *SetElem) size(k string) int64 { return int64(len(k)+56*(len(e.Adds)+len(e.Removes))) + 120 }

func newSetElem() *SetElem {
	return &SetElem{Adds: map[OpID]struct{}{}, Removes: map[OpID]struct{}{}}
}

// ORSet is an observed-remove set: an element is present while one of its
// add tags is not named by a remove. A remove that arrives before its add
// still removes it. Elems holds every element, or, for a backed set
// (NewBackedORSet), the resident ones.
type ORSet struct {
	Elems map[string]*SetElem

	back  Backing
	cache *Cache
	size  int64
	// sizes is what each resident element was counted at (backed).
	sizes map[string]int64
	dirty map[string]bool
}

// NewBackedORSet returns a set reading its elements from b, its resident
// ones counted in c.
func NewBackedORSet(b Backing, c *Cache) *ORSet {
	return &ORSet{Elems: map[string]*SetElem{}, back: b, cache: c, sizes: map[string]int64{}, dirty: map[string]bool{}}
}

func (s *ORSet) Type() Type { return TypeORSet }

// lookup returns element e, reading it from the backing if it is not
// resident; nil if it has no tags anywhere.
func (s *ORSet) lookup(e string) *SetElem {
	// A dirty element not resident was emptied since the last store write:
	// the store's record is stale until then.
	if el := s.Elems[e]; el != nil || s.back == nil || s.dirty[e] {
		return el
	}
	v, ok := s.back.Get([]byte(e))
	if !ok {
		return nil
	}
	el, err := decodeSetElem(v)
	if err != nil {
		return nil
	}
	s.Elems[e] = el
	s.account(e)
	return el
}

// account recounts resident element e (backed sets).
func (s *ORSet) account(e string) {
	if s.back == nil {
		return
	}
	var n int64
	if el := s.Elems[e]; el != nil {
		n = el.size(e)
	}
	d := n - s.sizes[e]
	if n == 0 {
		delete(s.sizes, e)
	} else {
		s.sizes[e] = n
	}
	s.size += d
	s.cache.Used += d
}

// elem returns element e, made if it has no tags yet, for a change.
func (s *ORSet) elem(e string) *SetElem {
	if s.Elems == nil {
		s.Elems = map[string]*SetElem{}
	}
	el := s.lookup(e)
	if el == nil {
		el = newSetElem()
		s.Elems[e] = el
	}
	if s.back != nil {
		s.dirty[e] = true
	}
	return el
}

// changed recounts e after a change and drops it if it has no tags left.
func (s *ORSet) changed(e string) {
	if el := s.Elems[e]; el != nil && len(el.Adds) == 0 && len(el.Removes) == 0 && s.back != nil {
		delete(s.Elems, e)
	}
	s.account(e)
}

func (s *ORSet) Apply(op *Op) {
	e := string(op.Field)
	el := s.elem(e)
	if op.Kind == ORSetRemove {
		for _, t := range op.Tags {
			el.Removes[t] = struct{}{}
		}
	} else {
		el.Adds[op.ID()] = struct{}{}
	}
	s.changed(e)
}

func (s *ORSet) Merge(other Object) {
	other.(*ORSet).each(func(e string, oe *SetElem) bool {
		el := s.elem(e)
		for t := range oe.Adds {
			el.Adds[t] = struct{}{}
		}
		for t := range oe.Removes {
			el.Removes[t] = struct{}{}
		}
		s.changed(e)
		return true
	})
}

// each calls f with every element that has tags, in element order, until
// it returns false. f must not change the set.
func (s *ORSet) each(f func(e string, el *SetElem) bool) {
	if s.back == nil {
		keys := make([]string, 0, len(s.Elems))
		for k, el := range s.Elems {
			if len(el.Adds) > 0 || len(el.Removes) > 0 {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			if !f(k, s.Elems[k]) {
				return
			}
		}
		return
	}
	mergeKeys(s.dirty, s.back, func(k string, stored []byte, resident bool) bool {
		if el := s.Elems[k]; el != nil {
			return f(k, el)
		}
		if resident {
			return true // dirty and gone: no tags left
		}
		el, err := decodeSetElem(stored)
		if err != nil {
			return true
		}
		return f(k, el)
	})
}

// Contains reports whether e is present.
func (s *ORSet) Contains(e []byte) bool {
	el := s.lookup(string(e))
	return el != nil && len(el.live()) > 0
}

// Observed returns e's live add tags (what a local remove must name).
func (s *ORSet) Observed(e []byte) []OpID {
	if el := s.lookup(string(e)); el != nil {
		return el.live()
	}
	return nil
}

// Elements returns the present elements, sorted.
func (s *ORSet) Elements() [][]byte {
	var out [][]byte
	s.each(func(e string, el *SetElem) bool {
		if len(el.live()) > 0 {
			out = append(out, []byte(e))
		}
		return true
	})
	return out
}

// Clone returns an unbacked copy holding every element.
func (s *ORSet) Clone() Object {
	c := &ORSet{}
	s.each(func(e string, el *SetElem) bool {
		ce := c.elem(e)
		for t := range el.Adds {
			ce.Adds[t] = struct{}{}
		}
		for t := range el.Removes {
			ce.Removes[t] = struct{}{}
		}
		return true
	})
	return c
}

func (s *ORSet) Backed() bool         { return s.back != nil }
func (s *ORSet) ResidentBytes() int64 { return s.size }

func (s *ORSet) Dirty() []Record {
	out := make([]Record, 0, len(s.dirty))
	for e := range s.dirty {
		out = append(out, s.elemRecord(e))
	}
	return out
}

func (s *ORSet) Clean() { clear(s.dirty) }

func (s *ORSet) Evict() {
	if s.back == nil {
		return
	}
	for e := range s.Elems {
		if !s.dirty[e] {
			delete(s.Elems, e)
			s.account(e)
		}
	}
}
