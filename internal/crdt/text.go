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

// Text is the seventh CRDT type. Like every Object it is not safe for
// concurrent use, and here reads included: a look-up by id keeps the runs
// used last (hot) and the origin used last (runIndex.last).
type Text struct {
	tree seqTree[textPiece]
	runs runIndex
	// waiting holds runs whose parent run has not arrived, by that run.
	waiting map[OpID][]*textRun
	// early holds the deleted spans of runs not arrived yet (a run holds
	// its own: textRun.del), by run.
	early map[OpID][]span
	// hot holds the runs used last: typing mostly names the run typed
	// just before, which spares a look-up in runs (see run).
	hot  [4]*textRun
	next int
	// dels logs the deletes applied, for collection (CollectDeleted).
	dels delLog
	// recs and buf hold OpRecords' answer.
	recs []Record
	buf  []byte
}

type span struct{ off, end uint64 }

func (t *Text) Type() Type { return TypeText }

func (t *Text) init() {
	if t.waiting == nil {
		t.waiting = map[OpID][]*textRun{}
		t.early = map[OpID][]span{}
	}
}

// Len returns the visible length in code points.
func (t *Text) Len() int { return t.tree.Len() }

// String returns the visible text.
func (t *Text) String() string {
	var b strings.Builder
	b.Grow(t.Len())
	t.tree.walk(func(p *piece) bool {
		if !deleted(p) {
			for _, r := range p.val.run.text[p.val.off : p.val.off+p.val.n] {
				b.WriteRune(r)
			}
		}
		return true
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
	p, off := t.tree.at(int(from))
	for left := int(count); left > 0 && p != nil; p, off = t.tree.nextVisible(p), 0 {
		if deleted(p) {
			continue
		}
		k := min(int(p.val.n)-off, left)
		for _, r := range p.val.run.text[int(p.val.off)+off : int(p.val.off)+off+k] {
			b.WriteRune(r)
		}
		left -= k
	}
	return b.String(), nil
}

// pieceAt returns the index in ps (a run's pieces) of the piece holding
// offset off.
func pieceAt(ps []*piece, off int) int {
	i, _ := slices.BinarySearchFunc(ps, off, func(p *piece, off int) int {
		switch {
		case int(p.val.off+p.val.n) <= off:
			return -1
		case int(p.val.off) > off:
			return 1
		}
		return 0
	})
	return i
}

// split makes a piece boundary before offset off of run (0 < off < len):
// afterwards a piece starts at off.
func (t *Text) split(run *textRun, off int) {
	ps := run.pieces()
	i := pieceAt(ps, off)
	p := ps[i]
	if int(p.val.off) == off {
		return
	}
	q := &piece{val: textPiece{run: run, off: int32(off), n: p.val.off + p.val.n - int32(off)}}
	if !deleted(p) {
		q.vis = int(q.val.n)
	}
	t.tree.splay(p)
	p.val.n = int32(off) - p.val.off
	if !deleted(p) {
		p.vis = int(p.val.n)
	}
	p.update()
	t.tree.insertAfter(p, q)
	if run.split == nil {
		run.split = new([]*piece)
	}
	*run.split = slices.Insert(ps, i+1, q)
}

// ---- ops ----

func (t *Text) Apply(op *Op) {
	t.init()
	switch op.Kind {
	case TextInsert:
		t.insertRun(&textRun{id: op.ID(), hlc: op.HLC, parent: CharID{Run: op.Ref, Off: op.Delta}, text: []rune(string(op.Value))})
	case TextDelete:
		ranges, _ := op.TextRanges()
		for _, r := range ranges {
			t.deleteRange(r.Run, r.Off, r.Off+r.N)
		}
	}
}

// insertRun adds run (from an op, a merge or a decode: its id, stamp,
// parent, text and any deleted spans it holds); it waits, hidden, while its
// parent run has not arrived.
func (t *Text) insertRun(run *textRun) {
	id, parent := run.id, run.parent
	if !t.runs.fresh(id) && t.run(id) != nil {
		return
	}
	run.one[0], run.split, run.kids = nil, nil, 0
	if len(t.early) > 0 {
		if ss, ok := t.early[id]; ok {
			d := run.deleted()
			for _, s := range ss {
				d.spans = addSpan(d.spans, s)
			}
			delete(t.early, id)
		}
	}
	t.runs.put(run)
	t.remember(run)
	if !parent.Run.IsZero() {
		pr := t.run(parent.Run)
		if pr == nil || !pr.placed() || parent.Off >= uint64(len(pr.text)) {
			t.waiting[parent.Run] = append(t.waiting[parent.Run], run)
			return
		}
		pr.kids++
		t.integrate(run, pr)
		return
	}
	t.integrate(run, nil)
}

// integrate places a run whose parent (pr, nil at the start) is present,
// then its deletes and the runs that waited for it.
func (t *Text) integrate(run, pr *textRun) {
	var qa [1]*textRun
	queue := append(qa[:0], run)
	for len(queue) > 0 {
		run := queue[0]
		queue = queue[1:]
		var after *piece
		if !run.parent.Run.IsZero() {
			if pr == nil || pr.id != run.parent.Run {
				pr = t.run(run.parent.Run)
			}
			off := int(run.parent.Off)
			if off+1 < len(pr.text) {
				t.split(pr, off+1)
			}
			ps := pr.pieces()
			after = ps[pieceAt(ps, off)]
		}
		// Skip the newer siblings' subtrees: every piece newer than run.
		for {
			var nx *piece
			if after == nil {
				nx = t.tree.first()
			} else {
				nx = t.tree.next(after)
			}
			if nx == nil || !nx.val.run.newer(run) {
				break
			}
			after = nx
		}
		p := &run.first
		*p = piece{val: textPiece{run: run, n: int32(len(run.text))}, vis: len(run.text)}
		t.tree.insertAfter(after, p)
		run.one[0] = p
		if ss := run.dels(); len(ss) > 0 {
			// Its deletes came first, and may have left the log with an
			// epoch that closed before the run came: logged again, so
			// the run waits for an epoch that covers its insert too.
			run.del.lastDel = t.dels.add(run.id)
			for _, s := range ss {
				t.markDeleted(run, s.off, s.end)
			}
		}
		if len(t.waiting) == 0 {
			continue
		}
		if w := t.waiting[run.id]; len(w) > 0 {
			delete(t.waiting, run.id)
			for _, c := range w {
				if c.parent.Off < uint64(len(run.text)) {
					queue = append(queue, c)
					run.kids++
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
	m := t.dels.add(id)
	run := t.run(id)
	if run == nil {
		t.early[id] = addSpan(t.early[id], span{off, end})
		return
	}
	d := run.deleted()
	d.spans = addSpan(d.spans, span{off, end})
	d.lastDel = m
	if run.placed() {
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
	ps := run.pieces()
	for i := pieceAt(ps, off); i < len(ps) && int(ps[i].val.off) < end; i++ {
		t.tree.setVis(ps[i], 0)
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
	p, off := t.tree.at(int(i - 1))
	t.remember(p.val.run)
	return CharID{Run: p.val.run.id, Off: uint64(int(p.val.off) + off)}, nil
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
	// A range per run met: typed text is a run per keystroke.
	out := make([]TextRange, 0, min(count, 32))
	covered := uint64(0)
	p, off := t.tree.at(int(i))
	for covered < count && p != nil && len(out) < MaxTextRanges {
		if !deleted(p) {
			k := min(uint64(int(p.val.n)-off), count-covered)
			out = append(out, TextRange{Run: p.val.run.id, Off: uint64(int(p.val.off) + off), N: k})
			if len(out) <= len(t.hot) {
				t.remember(p.val.run)
			}
			covered += k
		}
		p, off = t.tree.nextVisible(p), 0
	}
	return out, covered, nil
}

// ---- merge, clone, encoding ----

func (t *Text) Merge(other Object) {
	o := other.(*Text)
	t.init()
	runs := o.sortedRuns()
	for _, run := range runs {
		t.insertRun(&textRun{id: run.id, hlc: run.hlc, parent: run.parent, text: slices.Clone(run.text)})
	}
	for _, run := range runs {
		for _, s := range run.dels() {
			t.deleteRange(run.id, s.off, s.end)
		}
	}
	for id, ss := range o.early {
		for _, s := range ss {
			t.deleteRange(id, s.off, s.end)
		}
	}
}

// sortedRuns returns the runs by their own (HLC, origin, seq), oldest
// first: parents usually come before children, so few wait.

func (t *Text) sortedRuns() []*textRun {
	runs := slices.AppendSeq(make([]*textRun, 0, t.runs.len()), t.runs.all())
	slices.SortFunc(runs, older)
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
	runs := slices.AppendSeq(make([]*textRun, 0, t.runs.len()), t.runs.all())
	slices.SortFunc(runs, func(a, b *textRun) int { return compareID(a.id, b.id) })
	e := enc(append(b, FormatVersion, byte(TypeText))).uv(uint64(len(runs)))
	for _, r := range runs {
		e = appendRun(e, r.id, r.hlc, r.parent, r.text)
	}
	// The deleted spans: the runs' own (found above) and those of runs not
	// arrived yet.
	type runSpans struct {
		id OpID
		ss []span
	}
	dels := make([]runSpans, 0, len(t.early))
	for id, ss := range t.early {
		dels = append(dels, runSpans{id, ss})
	}
	for _, r := range runs {
		if ss := r.dels(); len(ss) > 0 {
			dels = append(dels, runSpans{r.id, ss})
		}
	}
	slices.SortFunc(dels, func(a, b runSpans) int { return compareID(a.id, b.id) })
	e = e.uv(uint64(len(dels)))
	for _, d := range dels {
		e = e.id(d.id).uv(uint64(len(d.ss)))
		for _, s := range d.ss {
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
			t.early[id] = append(t.early[id], span{off, off + n})
		}
	}
	if d.err != nil {
		return nil
	}
	t.placeRuns(runs)
	return t
}

// placeRuns inserts runs (decoded, or kept through a rebuild) oldest first,
// so parents mostly come before children, then balances the tree, which
// appending builds as a chain. The deleted spans in t.early of a run in
// runs become the run's.
func (t *Text) placeRuns(runs []*textRun) {
	slices.SortFunc(runs, older)
	for _, r := range runs {
		t.insertRun(r)
	}
	t.tree.rebalance()
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
