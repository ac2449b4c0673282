package crdt

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// ---- Text ----
//
// A Text is a sequence of code points edited by position. Each insert op
// makes a run: its characters get the ids (op id, 0), (op id, 1), ... and
// the run lands right after its parent character (the left neighbour the
// writer saw; the zero id is the start), ahead of its older siblings: the
// RGA's rule, with an insert's characters kept together. A
// character's in-run successor is its oldest child (every other child was
// written after the run, so its (HLC, origin) is larger), which makes the
// linear form of the rule exact: from the parent, skip every piece whose run
// is newer than the new one and insert before the first that is not.
//
// Pieces (a run's characters split by later inserts and deletes) sit in a
// splay tree keyed by position, each subtree knowing its visible length, so
// a position and a character id each resolve in O(log n) (amortized).

// CharID names one character of a Text: the run (the insert op) that made
// it and its offset there.
type CharID struct {
	Run OpID
	Off uint64
}

// TextRange is a span of one run's characters, [Off, Off+N).
type TextRange struct {
	Run OpID
	Off uint64
	N   uint64
}

// TextPos is a local Text edit as the guest asks for it: a visible index
// (and, for a delete, a count). The replica resolves it to ids under its
// lock (ResolveInsert, ResolveDelete); it never travels.
type TextPos struct {
	Index, Count uint64
}

// MaxTextRanges bounds the ranges of one delete op: a longer delete is cut
// into several ops so none outgrows a frame.
const MaxTextRanges = 1024

type textRun struct {
	id     OpID
	hlc    uint64
	parent CharID
	text   []rune
	pieces []*piece // in offset order; empty while the run waits for its parent
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

type piece struct {
	run                 *textRun
	off, n              int
	deleted             bool
	left, right, parent *piece
	sum                 int // visible characters in this subtree
}

func (p *piece) vis() int {
	if p.deleted {
		return 0
	}
	return p.n
}

func sumOf(p *piece) int {
	if p == nil {
		return 0
	}
	return p.sum
}

func (p *piece) update() { p.sum = sumOf(p.left) + sumOf(p.right) + p.vis() }

// Text is the seventh CRDT type.
type Text struct {
	root *piece
	runs map[OpID]*textRun
	// waiting holds runs whose parent run has not arrived, by that run.
	waiting map[OpID][]*textRun
	// deleted holds, per run, the deleted offsets as sorted disjoint
	// [off, end) spans (also for runs not yet arrived).
	deleted map[OpID][]span
}

type span struct{ off, end uint64 }

func (t *Text) Type() Type { return TypeText }

func (t *Text) init() {
	if t.runs == nil {
		t.runs = map[OpID]*textRun{}
		t.waiting = map[OpID][]*textRun{}
		t.deleted = map[OpID][]span{}
	}
}

// Len returns the visible length in code points.
func (t *Text) Len() int { return sumOf(t.root) }

// String returns the visible text.
func (t *Text) String() string {
	var b strings.Builder
	b.Grow(t.Len())
	t.walk(t.root, func(p *piece) {
		if !p.deleted {
			for _, r := range p.run.text[p.off : p.off+p.n] {
				b.WriteRune(r)
			}
		}
	})
	return b.String()
}

// Slice returns the visible characters [from, from+count) as UTF-8, count
// clamped to the end; from past the end is an error.
func (t *Text) Slice(from, count uint64) (string, error) {
	n := uint64(t.Len())
	if from > n {
		return "", fmt.Errorf("index %d past the end (length %d)", from, n)
	}
	count = min(count, n-from)
	var b strings.Builder
	if count == 0 {
		return "", nil
	}
	p, off := t.at(int(from))
	for left := int(count); left > 0 && p != nil; p, off = t.next(p), 0 {
		if p.deleted {
			continue
		}
		k := min(p.n-off, left)
		for _, r := range p.run.text[p.off+off : p.off+off+k] {
			b.WriteRune(r)
		}
		left -= k
	}
	return b.String(), nil
}

// walk visits the pieces in order without recursion.
func (t *Text) walk(p *piece, f func(*piece)) {
	var stack []*piece
	for p != nil || len(stack) > 0 {
		for p != nil {
			stack = append(stack, p)
			p = p.left
		}
		p = stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		f(p)
		p = p.right
	}
}

// ---- the splay tree ----

func (t *Text) rotate(x *piece) {
	p := x.parent
	g := p.parent
	if p.left == x {
		p.left = x.right
		if x.right != nil {
			x.right.parent = p
		}
		x.right = p
	} else {
		p.right = x.left
		if x.left != nil {
			x.left.parent = p
		}
		x.left = p
	}
	p.parent = x
	x.parent = g
	switch {
	case g == nil:
		t.root = x
	case g.left == p:
		g.left = x
	default:
		g.right = x
	}
	p.update()
	x.update()
}

func (t *Text) splay(x *piece) {
	for x.parent != nil {
		p := x.parent
		if g := p.parent; g != nil {
			if (g.left == p) == (p.left == x) {
				t.rotate(p)
			} else {
				t.rotate(x)
			}
		}
		t.rotate(x)
	}
}

// at returns the piece holding visible index i (0 <= i < Len) and i's
// offset within it.
func (t *Text) at(i int) (*piece, int) {
	p := t.root
	for p != nil {
		if l := sumOf(p.left); i < l {
			p = p.left
			continue
		} else {
			i -= l
		}
		if i < p.vis() {
			t.splay(p)
			return p, i
		}
		i -= p.vis()
		p = p.right
	}
	return nil, 0
}

// next returns the piece after p in order, or nil.
func (t *Text) next(p *piece) *piece {
	if q := p.right; q != nil {
		for q.left != nil {
			q = q.left
		}
		return q
	}
	for p.parent != nil && p.parent.right == p {
		p = p.parent
	}
	return p.parent
}

// first returns the first piece, or nil.
func (t *Text) first() *piece {
	p := t.root
	for p != nil && p.left != nil {
		p = p.left
	}
	return p
}

// insertAfter links q into the order right after p (p nil: at the start).
func (t *Text) insertAfter(p, q *piece) {
	q.left, q.right, q.parent = nil, nil, nil
	if p == nil {
		if f := t.first(); f != nil {
			t.splay(f)
			f.left, q.parent = q, f
			q.update()
			f.update()
			return
		}
		t.root = q
		q.update()
		return
	}
	t.splay(p)
	q.right = p.right
	if q.right != nil {
		q.right.parent = q
	}
	p.right, q.parent = q, p
	q.update()
	p.update()
}

// setDeleted changes a piece's visibility and the sums above it.
func (t *Text) setDeleted(p *piece, d bool) {
	if p.deleted == d {
		return
	}
	t.splay(p)
	p.deleted = d
	p.update()
}

// pieceAt returns the index in run.pieces of the piece holding offset off.
func pieceAt(run *textRun, off int) int {
	i, _ := slices.BinarySearchFunc(run.pieces, off, func(p *piece, off int) int {
		switch {
		case p.off+p.n <= off:
			return -1
		case p.off > off:
			return 1
		}
		return 0
	})
	return i
}

// split makes a piece boundary before offset off of run (0 < off < len):
// afterwards a piece starts at off.
func (t *Text) split(run *textRun, off int) {
	i := pieceAt(run, off)
	p := run.pieces[i]
	if p.off == off {
		return
	}
	q := &piece{run: run, off: off, n: p.off + p.n - off, deleted: p.deleted}
	t.splay(p)
	p.n = off - p.off
	p.update()
	t.insertAfter(p, q)
	run.pieces = slices.Insert(run.pieces, i+1, q)
}

// rebalance rebuilds the tree perfectly balanced, in O(n): a text built
// by appending (decoding, hydration) is a chain the splay tree would only
// straighten at the first access deep into it.
func (t *Text) rebalance() {
	var ps []*piece
	t.walk(t.root, func(p *piece) { ps = append(ps, p) })
	var build func(lo, hi int, parent *piece) *piece
	build = func(lo, hi int, parent *piece) *piece {
		if lo >= hi {
			return nil
		}
		mid := (lo + hi) / 2
		p := ps[mid]
		p.parent = parent
		p.left = build(lo, mid, p)
		p.right = build(mid+1, hi, p)
		p.update()
		return p
	}
	t.root = build(0, len(ps), nil)
}

// ---- ops ----

func (t *Text) Apply(op *Op) {
	t.init()
	switch op.Kind {
	case TextInsert:
		t.insertRun(op.ID(), op.HLC, CharID{Run: op.Ref, Off: op.Delta}, []rune(string(op.Value)))
	case TextDelete:
		ranges, _ := DecodeTextRanges(op.Value)
		for _, r := range ranges {
			t.deleteRange(r.Run, r.Off, r.Off+r.N)
		}
	}
}

// insertRun adds a run (from an op or a merge); it waits, hidden, while its
// parent run has not arrived.
func (t *Text) insertRun(id OpID, hlc uint64, parent CharID, text []rune) {
	if _, ok := t.runs[id]; ok {
		return
	}
	run := &textRun{id: id, hlc: hlc, parent: parent, text: text}
	t.runs[id] = run
	if !parent.Run.IsZero() {
		pr := t.runs[parent.Run]
		if pr == nil || len(pr.pieces) == 0 || parent.Off >= uint64(len(pr.text)) {
			t.waiting[parent.Run] = append(t.waiting[parent.Run], run)
			return
		}
	}
	t.integrate(run)
}

// integrate places a run whose parent is present, then its deletes and the
// runs that waited for it.
func (t *Text) integrate(run *textRun) {
	queue := []*textRun{run}
	for len(queue) > 0 {
		run := queue[0]
		queue = queue[1:]
		var after *piece
		if !run.parent.Run.IsZero() {
			pr := t.runs[run.parent.Run]
			off := int(run.parent.Off)
			if off+1 < len(pr.text) {
				t.split(pr, off+1)
			}
			after = pr.pieces[pieceAt(pr, off)]
		}
		// Skip the newer siblings' subtrees: every piece newer than run.
		for {
			var nx *piece
			if after == nil {
				nx = t.first()
			} else {
				nx = t.next(after)
			}
			if nx == nil || !nx.run.newer(run) {
				break
			}
			after = nx
		}
		p := &piece{run: run, n: len(run.text)}
		t.insertAfter(after, p)
		run.pieces = []*piece{p}
		for _, s := range t.deleted[run.id] {
			t.markDeleted(run, s.off, s.end)
		}
		if w := t.waiting[run.id]; len(w) > 0 {
			delete(t.waiting, run.id)
			for _, c := range w {
				if c.parent.Off < uint64(len(run.text)) {
					queue = append(queue, c)
				}
			}
		}
	}
}

// deleteRange records [off, end) of run as deleted and hides what exists.
func (t *Text) deleteRange(id OpID, off, end uint64) {
	if end <= off {
		return
	}
	t.deleted[id] = addSpan(t.deleted[id], span{off, end})
	if run := t.runs[id]; run != nil && len(run.pieces) > 0 {
		t.markDeleted(run, off, end)
	}
}

// markDeleted hides [off, end) of an integrated run (clamped to its length:
// a delete may name more than any genuine run holds).
func (t *Text) markDeleted(run *textRun, uoff, uend uint64) {
	off, end := int(min(uoff, uint64(len(run.text)))), int(min(uend, uint64(len(run.text))))
	if off >= end {
		return
	}
	if off > 0 {
		t.split(run, off)
	}
	if end < len(run.text) {
		t.split(run, end)
	}
	for i := pieceAt(run, off); i < len(run.pieces) && run.pieces[i].off < end; i++ {
		t.setDeleted(run.pieces[i], true)
	}
}

// addSpan merges s into sorted disjoint spans.
func addSpan(ss []span, s span) []span {
	i, _ := slices.BinarySearchFunc(ss, s.off, func(a span, off uint64) int {
		if a.end < off {
			return -1
		}
		return 1
	})
	j := i
	for j < len(ss) && ss[j].off <= s.end {
		s.off, s.end = min(s.off, ss[j].off), max(s.end, ss[j].end)
		j++
	}
	return slices.Replace(ss, i, j, s)
}

// ResolveInsert returns the parent of text inserted at visible index i:
// the character at i-1, or the start for i = 0.
func (t *Text) ResolveInsert(i uint64) (CharID, error) {
	if t == nil {
		if i == 0 {
			return CharID{}, nil
		}
		return CharID{}, fmt.Errorf("index %d past the end (length 0)", i)
	}
	if n := uint64(t.Len()); i > n {
		return CharID{}, fmt.Errorf("index %d past the end (length %d)", i, n)
	}
	if i == 0 {
		return CharID{}, nil
	}
	p, off := t.at(int(i - 1))
	return CharID{Run: p.run.id, Off: uint64(p.off + off)}, nil
}

// ResolveDelete returns the ranges of the visible characters [i, i+count),
// at most MaxTextRanges of them, and how many characters they hold.
func (t *Text) ResolveDelete(i, count uint64) ([]TextRange, uint64, error) {
	n := uint64(0)
	if t != nil {
		n = uint64(t.Len())
	}
	if i > n || count > n-i {
		return nil, 0, fmt.Errorf("characters [%d, %d) past the end (length %d)", i, i+count, n)
	}
	if count == 0 {
		return nil, 0, nil
	}
	var out []TextRange
	covered := uint64(0)
	p, off := t.at(int(i))
	for covered < count && p != nil && len(out) < MaxTextRanges {
		if !p.deleted {
			k := min(uint64(p.n-off), count-covered)
			out = append(out, TextRange{Run: p.run.id, Off: uint64(p.off + off), N: k})
			covered += k
		}
		p, off = t.next(p), 0
	}
	return out, covered, nil
}

// ---- merge, clone, encoding ----

func (t *Text) Merge(other Object) {
	o := other.(*Text)
	t.init()
	for _, run := range o.sortedRuns() {
		t.insertRun(run.id, run.hlc, run.parent, slices.Clone(run.text))
	}
	for id, ss := range o.deleted {
		for _, s := range ss {
			t.deleteRange(id, s.off, s.end)
		}
	}
}

// sortedRuns returns the runs by (HLC, origin, seq), oldest first: parents
// before children, so merging or decoding in this order never waits.
func (t *Text) sortedRuns() []*textRun {
	runs := make([]*textRun, 0, len(t.runs))
	for _, r := range t.runs {
		runs = append(runs, r)
	}
	slices.SortFunc(runs, func(a, b *textRun) int {
		switch {
		case a == b:
			return 0
		case b.newer(a):
			return -1
		}
		return 1
	})
	return runs
}

func (t *Text) Clone() Object {
	c := &Text{}
	c.init()
	c.Merge(t)
	return c
}

// AppendBinary: the runs by id (id, HLC, parent id and offset, text), then
// the deleted spans by run id. Equal states encode equally.
func (t *Text) AppendBinary(b []byte) []byte {
	runs := make([]*textRun, 0, len(t.runs))
	for _, r := range t.runs {
		runs = append(runs, r)
	}
	slices.SortFunc(runs, func(a, b *textRun) int { return compareID(a.id, b.id) })
	e := enc(append(b, FormatVersion, byte(TypeText))).uv(uint64(len(runs)))
	for _, r := range runs {
		e = appendRun(e, r.id, r.hlc, r.parent, r.text)
	}
	ids := make([]OpID, 0, len(t.deleted))
	for id := range t.deleted {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, compareID)
	e = e.uv(uint64(len(ids)))
	for _, id := range ids {
		ss := t.deleted[id]
		e = e.id(id).uv(uint64(len(ss)))
		for _, s := range ss {
			e = e.uv(s.off).uv(s.end - s.off)
		}
	}
	return e
}

func appendRun(e enc, id OpID, hlc uint64, parent CharID, text []rune) enc {
	e = e.id(id).uv(hlc).id(parent.Run).uv(parent.Off)
	return e.str(string(text))
}

func (d *dec) text() *Text {
	t := &Text{}
	t.init()
	n := d.count(5)
	var runs []*textRun
	var last OpID
	for i := 0; i < n && d.err == nil; i++ {
		id, hlc := d.id(false), d.uv()
		parent := CharID{Run: d.id(true)}
		parent.Off = d.uv()
		s := d.str()
		if d.err != nil {
			break
		}
		switch {
		case i > 0 && compareID(last, id) >= 0:
			d.fail("runs out of order at %s", id)
		case s == "" || !utf8.ValidString(s):
			d.fail("run %s: empty or not UTF-8", id)
		case parent.Run.IsZero() && parent.Off != 0:
			d.fail("run %s: offset without a parent", id)
		}
		last = id
		runs = append(runs, &textRun{id: id, hlc: hlc, parent: parent, text: []rune(s)})
	}
	m := d.count(3)
	for i := 0; i < m && d.err == nil; i++ {
		id := d.id(false)
		k := d.count(2)
		if k == 0 {
			d.fail("run %s: no deleted spans", id)
		}
		var prev uint64
		for j := 0; j < k && d.err == nil; j++ {
			off, n := d.uv(), d.uv()
			if d.err == nil && (n == 0 || off+n < off || (j > 0 && off <= prev)) {
				d.fail("run %s: bad deleted span", id)
			}
			prev = off + n
			t.deleted[id] = append(t.deleted[id], span{off, off + n})
		}
	}
	if d.err != nil {
		return nil
	}
	slices.SortFunc(runs, func(a, b *textRun) int {
		if b.newer(a) {
			return -1
		}
		return 1
	})
	for _, r := range runs {
		t.insertRun(r.id, r.hlc, r.parent, r.text)
	}
	t.rebalance()
	return t
}

// AppendTextRanges encodes a delete's ranges (a TextDelete op's Value).
func AppendTextRanges(b []byte, rs []TextRange) []byte {
	e := enc(b).uv(uint64(len(rs)))
	for _, r := range rs {
		e = e.id(r.Run).uv(r.Off).uv(r.N)
	}
	return e
}

// DecodeTextRanges decodes AppendTextRanges' form: at least one range, each
// of at least one character.
func DecodeTextRanges(b []byte) ([]TextRange, error) {
	d := &dec{b: b}
	n := d.count(4)
	if d.err == nil && n == 0 {
		d.fail("a text delete without ranges")
	}
	rs := make([]TextRange, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		r := TextRange{Run: d.id(false), Off: d.uv(), N: d.uv()}
		if d.err == nil && (r.N == 0 || r.Off+r.N < r.Off) {
			d.fail("bad text range %s+%d/%d", r.Run, r.Off, r.N)
		}
		rs = append(rs, r)
	}
	if err := d.done(); err != nil {
		return nil, err
	}
	return rs, nil
}
