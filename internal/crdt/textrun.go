package crdt

import (
	"cmp"
	"strings"
)

// A Text's runs and pieces (text.go has the Text itself).

// A run is kept small (176 bytes on 64-bit): a typed document holds one
// per keystroke, and what a deleted run needs more is apart (runDel).
type textRun struct {
	id     OpID
	hlc    uint64
	parent CharID
	text   []rune
	// del holds the run's deletes; nil while it has none.
	del *runDel
	// one[0] is the run's first piece once it is placed (nil while it
	// waits for its parent): a run and its piece are one allocation.
	// Once the run is split, split holds all its pieces in offset order
	// (pieces).
	one   [1]*piece
	split *[]*piece
	// kids counts the placed runs whose parent is one of this run's
	// characters.
	kids  int32
	first piece
}

// runDel is what a run with deleted characters keeps of them.
type runDel struct {
	// spans are the deleted offsets, sorted disjoint [off, end) spans: in
	// one, the first, until there are more.
	spans []span
	one   [1]span
	// lastDel is the mark of the run's latest delete in the Text's delete
	// log.
	lastDel uint64
	// stable is set once the run's deletion is causally stable
	// (CollectRun): it goes when it has no kids left.
	stable bool
}

// dels returns the run's deleted spans.
func (r *textRun) dels() []span {
	if r.del == nil {
		return nil
	}
	return r.del.spans
}

// deleted returns the run's runDel, made on first use.
func (r *textRun) deleted() *runDel {
	if r.del == nil {
		r.del = &runDel{}
		r.del.spans = r.del.one[:0]
	}
	return r.del
}

// placed reports whether the run is in the tree (its parent arrived).
func (r *textRun) placed() bool { return r.one[0] != nil }

// pieces returns the run's pieces in offset order (none while it waits).
func (r *textRun) pieces() []*piece {
	switch {
	case r.split != nil:
		return *r.split
	case r.one[0] != nil:
		return r.one[:]
	}
	return nil
}

// older orders runs by their own (HLC, origin, seq), oldest first: the
// order merging and decoding insert them in, parents usually first.
func older(a, b *textRun) int {
	switch {
	case a.hlc != b.hlc:
		return cmp.Compare(a.hlc, b.hlc)
	case a.id.Origin != b.id.Origin:
		return strings.Compare(a.id.Origin, b.id.Origin)
	}
	return cmp.Compare(a.id.Seq, b.id.Seq)
}

// newer reports whether run a sorts before run b among siblings: larger
// (HLC, origin), then larger seq.
func (a *textRun) newer(b *textRun) bool {
	if a.hlc != b.hlc {
		return a.hlc > b.hlc
	}
	if a.id.Origin != b.id.Origin {
		return a.id.Origin > b.id.Origin
	}
	return a.id.Seq > b.id.Seq
}

// textPiece is a node's item in a Text's tree: characters [off, off+n) of
// a run, visible unless the node's vis is 0.
type textPiece struct {
	run    *textRun
	off, n int32 // a run's text is an op's: far below 2^31 code points
}

type piece = seqNode[textPiece]

func deleted(p *piece) bool { return p.vis == 0 }
