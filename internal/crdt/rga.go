package crdt

import (
	"bytes"
	"slices"
)

// RGAElem is one element of a sequence. An element known only from a delete
// (its insert has not arrived) has Inserted false.
type RGAElem struct {
	ID       OpID
	Parent   OpID
	HLC      uint64
	Value    []byte
	Inserted bool
	Deleted  bool

	// node is the element's place in the RGA's order (nil until it and
	// its parent are inserted).
	node *seqNode[*RGAElem]
	// kids are its inserted children, newest first, and up its parent
	// once that is in Elems (derived, rebuilt on decode).
	kids []*RGAElem
	up   *RGAElem
	// stable is set once the element's deletion is causally stable
	// (CollectElem): it goes when it has no children left. lastDel is the
	// mark of its latest delete in the RGA's delete log.
	stable  bool
	lastDel uint64
}

// RGA is a replicated growable array. Elements form a tree under their
// parent (the zero OpID is the head); an element comes right after its
// parent, ahead of older siblings (siblings by larger (HLC, origin) first).
// Deleted elements stay as tombstones so their children keep their place;
// an element whose parent has not arrived is hidden until it does.
type RGA struct {
	Elems map[OpID]*RGAElem
	// root holds the children of the head and orphans those of parents
	// not in Elems yet, newest first; an element holds its own (kids).
	// Derived from Elems and rebuilt on decode.
	root    []*RGAElem
	orphans map[OpID][]*RGAElem
	// tree holds the inserted elements whose parents are placed, in
	// sequence order, with their visibility: positions in O(log n).
	tree seqTree[*RGAElem]
	// dels logs the deletes applied, for collection (CollectDeleted).
	dels delLog
}

func (r *RGA) Type() Type { return TypeRGA }

// newer orders siblings: larger (HLC, origin) first.
func newer(ea, eb *RGAElem) int {
	if ea.HLC != eb.HLC {
		if ea.HLC > eb.HLC {
			return -1
		}
		return 1
	}
	if ea.ID.Origin != eb.ID.Origin {
		if ea.ID.Origin > eb.ID.Origin {
			return -1
		}
		return 1
	}
	return compareID(eb.ID, ea.ID)
}

func (r *RGA) init() {
	if r.Elems == nil {
		r.Elems = map[OpID]*RGAElem{}
	}
}

// adopt gives e, new in Elems, the children that waited for it.
func (r *RGA) adopt(e *RGAElem) {
	if kids, ok := r.orphans[e.ID]; ok {
		e.kids = kids
		for _, k := range kids {
			k.up = e
		}
		delete(r.orphans, e.ID)
	}
}

// siblings returns e's siblings (e among them once linked): the head's
// children, its parent's or, while the parent is missing, the orphans'.
func (r *RGA) siblings(e *RGAElem) []*RGAElem {
	switch {
	case e.Parent.IsZero():
		return r.root
	case e.up != nil:
		return e.up.kids
	}
	return r.orphans[e.Parent]
}

// setSiblings replaces e's siblings (e's parent's children).
func (r *RGA) setSiblings(e *RGAElem, sib []*RGAElem) {
	switch {
	case e.Parent.IsZero():
		r.root = sib
	case e.up != nil:
		e.up.kids = sib
	case len(sib) == 0:
		delete(r.orphans, e.Parent)
	default:
		if r.orphans == nil {
			r.orphans = map[OpID][]*RGAElem{}
		}
		r.orphans[e.Parent] = sib
	}
}

func (r *RGA) link(e *RGAElem) {
	if !e.Parent.IsZero() && e.up == nil {
		e.up = r.Elems[e.Parent]
	}
	sib := r.siblings(e)
	i, _ := slices.BinarySearchFunc(sib, e, newer)
	r.setSiblings(e, slices.Insert(sib, i, e))
}

// insert adds an inserted element (from an op or a merge).
func (r *RGA) insert(id, parent OpID, hlc uint64, value []byte, deleted bool) {
	r.init()
	e := r.Elems[id]
	if e != nil && e.Inserted {
		if deleted {
			r.remove(id)
		}
		return
	}
	if e == nil {
		e = &RGAElem{ID: id}
		r.Elems[id] = e
		r.adopt(e)
	}
	e.Parent, e.HLC, e.Value, e.Inserted = parent, hlc, bytes.Clone(value), true
	if deleted && !e.Deleted {
		e.lastDel = r.dels.add(id)
	} else if e.Deleted {
		// Its delete came first, and may have left the log with an epoch
		// that closed before the insert came: logged again, so the
		// element waits for an epoch that covers its insert too.
		e.lastDel = r.dels.add(id)
	}
	e.Deleted = e.Deleted || deleted
	r.link(e)
	if parent.IsZero() || r.placed(parent) {
		r.place(e)
	}
}

func (r *RGA) placed(id OpID) bool {
	e := r.Elems[id]
	return e != nil && e.node != nil
}

// place puts e (whose parent is placed) into the order, then every
// element waiting under it, depth first: right after its parent, or after
// the last element of the subtree of the sibling before it (siblings
// newest first), which is already placed.
func (r *RGA) place(e *RGAElem) {
	stack := []*RGAElem{e}
	for len(stack) > 0 {
		e := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		var pred *seqNode[*RGAElem]
		sib := r.siblings(e)
		i, _ := slices.BinarySearchFunc(sib, e, newer)
		if i > 0 {
			pred = r.lastOf(sib[i-1])
		} else if e.up != nil {
			pred = e.up.node
		}
		e.node = &seqNode[*RGAElem]{val: e}
		if !e.Deleted {
			e.node.vis = 1
		}
		r.tree.insertAfter(pred, e.node)
		kids := e.kids
		for k := len(kids) - 1; k >= 0; k-- {
			stack = append(stack, kids[k])
		}
	}
}

// lastOf returns the node of the last element of e's subtree: the oldest
// child's, repeatedly.
func (r *RGA) lastOf(e *RGAElem) *seqNode[*RGAElem] {
	for len(e.kids) > 0 {
		e = e.kids[len(e.kids)-1]
	}
	return e.node
}

func (r *RGA) remove(id OpID) {
	r.init()
	m := r.dels.add(id)
	if e := r.Elems[id]; e != nil {
		e.Deleted, e.lastDel = true, m
		if e.node != nil {
			r.tree.setVis(e.node, 0)
		}
		return
	}
	e := &RGAElem{ID: id, Deleted: true}
	r.Elems[id] = e
	r.adopt(e)
}

// linkAll links every inserted element under its parent and places them
// (a decode, or a rebuild after elements went).
func (r *RGA) linkAll() {
	r.root, r.orphans, r.tree = nil, nil, seqTree[*RGAElem]{}
	r.init()
	for _, e := range r.Elems {
		e.node, e.kids, e.up = nil, nil, nil
	}
	for _, e := range r.Elems {
		if e.Inserted {
			r.link(e)
		}
	}
	r.placeAll()
}

// placeAll places every element under the head (after a decode, which
// links them all first), then balances the tree.
func (r *RGA) placeAll() {
	for _, e := range r.root {
		r.place(e)
	}
	r.tree.rebalance()
}

func (r *RGA) Apply(op *Op) {
	if op.Kind == RGADelete {
		r.remove(op.Ref)
		return
	}
	r.insert(op.ID(), op.Ref, op.HLC, op.Value, false)
}

func (r *RGA) Merge(other Object) {
	for id, e := range other.(*RGA).Elems {
		if e.Inserted {
			r.insert(id, e.Parent, e.HLC, e.Value, e.Deleted)
		} else if e.Deleted {
			r.remove(id)
		}
	}
}

// Has reports whether id is an inserted element (deleted or not).
func (r *RGA) Has(id OpID) bool {
	e := r.Elems[id]
	return e != nil && e.Inserted
}

// Visible returns the visible elements in sequence order.
func (r *RGA) Visible() []*RGAElem {
	out := make([]*RGAElem, 0, r.tree.Len())
	r.tree.walk(func(n *seqNode[*RGAElem]) bool {
		if n.vis > 0 {
			out = append(out, n.val)
		}
		return true
	})
	return out
}

// Len returns the number of visible elements.
func (r *RGA) Len() int { return r.tree.Len() }

// Slice returns the values of the visible elements [from, from+count) in
// sequence order (fewer at the end): O(log n + count).
func (r *RGA) Slice(from, count uint64) [][]byte {
	var out [][]byte
	if count == 0 || from >= uint64(r.tree.Len()) {
		return out
	}
	n, _ := r.tree.at(int(from))
	for ; n != nil && uint64(len(out)) < count; n = r.tree.nextVisible(n) {
		if n.vis > 0 {
			out = append(out, n.val.Value)
		}
	}
	return out
}

func (r *RGA) Clone() Object {
	c := &RGA{}
	c.Merge(r)
	return c
}
