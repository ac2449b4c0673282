package crdt

import (
	"cmp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"pgregory.net/rapid"
)

// textWriter edits a Text the way a replica does for a local write: the
// position resolves to ids, then the op applies.
type textWriter struct {
	t      *Text
	origin string
	seq    uint64
	hlc    *uint64
	ops    []*Op
}

func (w *textWriter) op(kind Kind) *Op {
	w.seq++
	*w.hlc++
	return &Op{Origin: w.origin, Seq: w.seq, HLC: *w.hlc, Kind: kind, Key: "doc"}
}

// fataler is what the writer needs of a *testing.T or a *rapid.T.
type fataler interface {
	Helper()
	Fatal(args ...any)
}

func (w *textWriter) insert(tb fataler, i int, s string) {
	tb.Helper()
	parent, err := w.t.ResolveInsert(uint64(i))
	if err != nil {
		tb.Fatal(err)
	}
	op := w.op(TextInsert)
	op.Ref, op.Delta, op.Value = parent.Run, parent.Off, []byte(s)
	if err := op.Validate(); err != nil {
		tb.Fatal(err)
	}
	w.t.Apply(op)
	w.ops = append(w.ops, op)
}

func (w *textWriter) delete(tb fataler, i, n int) {
	tb.Helper()
	for n > 0 {
		rs, covered, err := w.t.ResolveDelete(uint64(i), uint64(n))
		if err != nil {
			tb.Fatal(err)
		}
		op := w.op(TextDelete)
		op.Value = AppendTextRanges(nil, rs)
		w.t.Apply(op)
		w.ops = append(w.ops, op)
		n -= int(covered)
	}
}

func TestText_LocalEdits(t *testing.T) {
	type edit struct {
		del  bool
		i, n int
		s    string
	}
	for _, tc := range []struct {
		name  string
		edits []edit
		want  string
	}{
		{"empty", nil, ""},
		{"append", []edit{{i: 0, s: "hello"}, {i: 5, s: " world"}}, "hello world"},
		{"prepend", []edit{{i: 0, s: "world"}, {i: 0, s: "hello "}}, "hello world"},
		{"middle of a run", []edit{{i: 0, s: "held"}, {i: 2, s: "LLO WOR"}}, "heLLO WORld"},
		{"delete inside a run", []edit{{i: 0, s: "abcdef"}, {del: true, i: 1, n: 3}}, "aef"},
		{"delete across runs", []edit{{i: 0, s: "abc"}, {i: 3, s: "def"}, {i: 1, s: "X"}, {del: true, i: 2, n: 4}}, "aXf"},
		{"insert where deleted", []edit{{i: 0, s: "abc"}, {del: true, i: 1, n: 1}, {i: 1, s: "B"}}, "aBc"},
		{"delete all, type again", []edit{{i: 0, s: "abc"}, {del: true, i: 0, n: 3}, {i: 0, s: "z"}}, "z"},
		{"code points", []edit{{i: 0, s: "é😀x"}, {i: 1, s: "ü"}, {del: true, i: 2, n: 1}}, "éüx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hlc uint64
			w := &textWriter{t: New(TypeText).(*Text), origin: origins[0], hlc: &hlc}
			for _, e := range tc.edits {
				if e.del {
					w.delete(t, e.i, e.n)
				} else {
					w.insert(t, e.i, e.s)
				}
			}
			if got := w.t.String(); got != tc.want {
				t.Fatalf("text %q, want %q", got, tc.want)
			}
			if w.t.Len() != utf8.RuneCountInString(tc.want) {
				t.Fatalf("Len %d, want %d", w.t.Len(), utf8.RuneCountInString(tc.want))
			}
			// Replayed on another replica, and decoded from its encoding.
			r := New(TypeText).(*Text)
			for _, op := range w.ops {
				r.Apply(op)
			}
			d, err := Decode(TypeText, w.t.AppendBinary(nil))
			if err != nil {
				t.Fatal(err)
			}
			if r.String() != tc.want || d.(*Text).String() != tc.want {
				t.Fatalf("replica %q, decoded %q, want %q", r.String(), d.(*Text).String(), tc.want)
			}
		})
	}
}

func TestText_OutOfRange(t *testing.T) {
	var hlc uint64
	w := &textWriter{t: New(TypeText).(*Text), origin: origins[0], hlc: &hlc}
	w.insert(t, 0, "abc")
	if _, err := w.t.ResolveInsert(4); err == nil {
		t.Fatal("insert at 4 of 3 accepted")
	}
	if _, _, err := w.t.ResolveDelete(2, 2); err == nil {
		t.Fatal("delete of [2, 4) of 3 accepted")
	}
	if _, err := w.t.Slice(4, 1); err == nil {
		t.Fatal("read from 4 of 3 accepted")
	}
	if s, _ := w.t.Slice(1, 100); s != "bc" {
		t.Fatalf("Slice(1, 100) = %q, want the clamped %q", s, "bc")
	}
	var none *Text
	if _, err := none.ResolveInsert(0); err != nil {
		t.Fatalf("insert at 0 of an absent text: %v", err)
	}
}

// Two writers type at the same place at once, one keystroke per op; every
// delivery order gives one text on both, and neither's typing is cut into
// by the other's.
func TestProperty_TextConcurrentTypingNeverInterleaves(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		var hlc uint64
		base := &textWriter{t: New(TypeText).(*Text), origin: origins[2], hlc: &hlc}
		base.insert(rt, 0, "[]")
		words := []string{rapid.StringMatching(`[a-z]{1,8}`).Draw(rt, "a"), rapid.StringMatching(`[A-Z]{1,8}`).Draw(rt, "b")}
		var all []*Op
		for i, word := range words {
			w := &textWriter{t: New(TypeText).(*Text), origin: origins[i], hlc: new(uint64)}
			*w.hlc = hlc + uint64(rapid.IntRange(0, 3).Draw(rt, "skew"))
			for _, op := range base.ops {
				w.t.Apply(op)
			}
			for j, r := range word {
				w.insert(rt, 1+j, string(r))
			}
			all = append(all, w.ops...)
		}
		var got []string
		for range 2 {
			r := New(TypeText).(*Text)
			for _, op := range base.ops {
				r.Apply(op)
			}
			for _, i := range rapid.Permutation(indexes(len(all))).Draw(rt, "order") {
				r.Apply(all[i])
			}
			got = append(got, r.String())
		}
		if got[0] != got[1] {
			rt.Fatalf("orders disagree: %q vs %q", got[0], got[1])
		}
		if got[0] != "["+words[0]+words[1]+"]" && got[0] != "["+words[1]+words[0]+"]" {
			rt.Fatalf("typing interleaved: %q from %q and %q", got[0], words[0], words[1])
		}
	})
}

// refText is the specification the Text must agree with: every character
// its own RGA element (a run's character k > 0 the child of character k-1,
// with the run's stamp), siblings newest first, depth first.
func refText(ops []*Op) string {
	type char struct {
		id     CharID
		hlc    uint64
		r      rune
		parent CharID
		del    bool
	}
	chars := map[CharID]*char{}
	kids := map[CharID][]*char{}
	var dels []TextRange
	for _, op := range ops {
		switch op.Kind {
		case TextInsert:
			parent := CharID{Run: op.Ref, Off: op.Delta}
			for k, r := range []rune(string(op.Value)) {
				c := &char{id: CharID{Run: op.ID(), Off: uint64(k)}, hlc: op.HLC, r: r, parent: parent}
				chars[c.id] = c
				kids[parent] = append(kids[parent], c)
				parent = c.id
			}
		case TextDelete:
			rs, _ := DecodeTextRanges(op.Value)
			dels = append(dels, rs...)
		}
	}
	for _, d := range dels {
		for k := d.Off; k < d.Off+d.N; k++ {
			if c := chars[CharID{Run: d.Run, Off: k}]; c != nil {
				c.del = true
			}
		}
	}
	newer := func(a, b *char) int {
		switch {
		case a.hlc != b.hlc:
			return cmp.Compare(b.hlc, a.hlc)
		case a.id.Run.Origin != b.id.Run.Origin:
			return -strings.Compare(a.id.Run.Origin, b.id.Run.Origin)
		}
		return cmp.Compare(b.id.Run.Seq, a.id.Run.Seq)
	}
	var b strings.Builder
	stack := []CharID{{}}
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if c := chars[id]; c != nil && !c.del {
			b.WriteRune(c.r)
		}
		ks := slices.Clone(kids[id])
		slices.SortStableFunc(ks, newer)
		for i := len(ks) - 1; i >= 0; i-- {
			stack = append(stack, ks[i].id)
		}
	}
	return b.String()
}

// The runs-and-pieces Text gives the text of the one-element-per-character
// RGA on every causally plausible history, in any delivery order.
func TestProperty_TextMatchesCharacterRGA(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ops := genHistory(rt, []Kind{TextInsert, TextInsert, TextDelete})
		want := map[string]string{}
		for _, key := range []string{"a", "b"} {
			var mine []*Op
			for _, op := range ops {
				if op.Key == key {
					mine = append(mine, op)
				}
			}
			want[key] = refText(mine)
		}
		s := NewState()
		for _, i := range rapid.Permutation(indexes(len(ops))).Draw(rt, "order") {
			s.Deliver(ops[i])
		}
		for key, w := range want {
			got := ""
			if obj := s.Get(ObjKey{Type: TypeText, Key: key}); obj != nil {
				got = obj.(*Text).String()
			}
			if got != w {
				rt.Fatalf("key %s: text %q, character RGA %q", key, got, w)
			}
		}
	})
}

// A writer whose clock puts an insert below its parent (a bug or a
// forger: a signed op proves who wrote it, not that its HLC is honest)
// cannot make replicas disagree: any delivery order gives one text (the
// placement may differ from the one-element-per-character RGA's then, but
// it is the same everywhere).
func TestProperty_TextConvergesWhateverTheClocks(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ops := genHistory(rt, []Kind{TextInsert, TextInsert, TextDelete})
		for _, op := range ops {
			op.HLC = uint64(rapid.IntRange(0, 5).Draw(rt, "bad-hlc"))
		}
		var got []string
		for range 2 {
			s := NewState()
			for _, i := range rapid.Permutation(indexes(len(ops))).Draw(rt, "order") {
				s.Deliver(ops[i])
			}
			got = append(got, string(digest(s)))
		}
		if got[0] != got[1] {
			rt.Fatalf("two delivery orders disagree:\n%q\n%q", got[0], got[1])
		}
	})
}

// Collecting deleted runs (CollectRun, once every delete is causally
// stable) changes nothing any replica shows, now or after later
// concurrent edits: three writers edit and sync, one collects every
// wholly deleted run, one some of them in any order, one none; then they
// edit concurrently again, every op reaches every replica in any order,
// and all three show the same text, as do the collected one's encodings.
func TestProperty_TextCollectionIsInvisible(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ws := make([]*textWriter, 3)
		for i := range ws {
			ws[i] = &textWriter{t: New(TypeText).(*Text), origin: origins[i], hlc: new(uint64)}
		}
		edit := func(w *textWriter, label string) {
			for range rapid.IntRange(0, 8).Draw(rt, label+"-edits") {
				l := w.t.Len()
				if l > 0 && rapid.IntRange(0, 2).Draw(rt, label+"-kind") > 0 {
					i := rapid.IntRange(0, l-1).Draw(rt, label+"-at")
					w.delete(rt, i, rapid.IntRange(1, l-i).Draw(rt, label+"-n"))
				} else {
					w.insert(rt, rapid.IntRange(0, l).Draw(rt, label+"-at"), rapid.StringMatching(`[a-z]{1,4}`).Draw(rt, label+"-s"))
				}
			}
		}
		var all []*Op
		sync := func() {
			var clock uint64
			for _, w := range ws {
				all = append(all, w.ops...)
				w.ops = nil
				clock = max(clock, *w.hlc)
			}
			for _, w := range ws {
				for _, op := range all {
					w.t.Apply(op)
				}
				*w.hlc = clock // every writer has seen every op
			}
		}
		first := -1
		for range rapid.IntRange(1, 3).Draw(rt, "rounds") {
			for _, w := range ws {
				edit(w, "before")
			}
			sync()
			if first < 0 {
				first = len(all)
			}
		}
		before := ws[2].t.String()
		// Writer 0 collects through its delete log, as the replica does
		// once every delete is stable; writer 1 some runs, in any order.
		ws[0].t.CollectDeleted(ws[0].t.DelMark())
		if n := ws[0].t.DeletedLeaves(); n != 0 || ws[0].t.DelsWaiting() != 0 {
			rt.Fatalf("after collecting its whole delete log, %d deleted leaves and %d deletes left", n, ws[0].t.DelsWaiting())
		}
		for i, w := range ws[:2] {
			var ids []OpID
			w.t.DeletedRuns(func(id OpID) { ids = append(ids, id) })
			slices.SortFunc(ids, compareID)
			for _, j := range rapid.Permutation(indexes(len(ids))).Draw(rt, "collect-order") {
				if i == 0 || rapid.Bool().Draw(rt, "collect") {
					w.t.CollectRun(ids[j])
				}
			}
			if got := w.t.String(); got != before {
				rt.Fatalf("writer %d's collection changed its text: %q -> %q", i, before, got)
			}
		}
		// A replica that missed the later rounds takes writer 0's state as a
		// snapshot: what writer 0 collected goes here too.
		stale := New(TypeText).(*Text)
		for _, op := range all[:first] {
			stale.Apply(op)
		}
		vv := map[string]uint64{}
		for _, op := range all {
			vv[op.Origin] = max(vv[op.Origin], op.Seq)
		}
		stale.DropCollected(ws[0].t, vv)
		stale.Merge(ws[0].t)
		if got := stale.String(); got != before {
			rt.Fatalf("a replica taking the collected state as a snapshot shows %q, want %q", got, before)
		}
		var later []*Op
		for _, w := range ws {
			edit(w, "after")
			later = append(later, w.ops...)
			w.ops = nil
		}
		for _, w := range ws {
			for _, k := range rapid.Permutation(indexes(len(later))).Draw(rt, "delivery") {
				w.t.Apply(later[k])
			}
		}
		want := ws[2].t.String()
		for i, w := range ws[:2] {
			if got := w.t.String(); got != want {
				rt.Fatalf("writer %d (collected) shows %q, writer 2 (not collected) %q", i, got, want)
			}
		}
		dec, err := Decode(TypeText, ws[0].t.AppendBinary(nil))
		if err != nil {
			rt.Fatal(err)
		}
		fromRecs, err := FromRecords(TypeText, Records(ws[0].t))
		if err != nil {
			rt.Fatal(err)
		}
		if dec.(*Text).String() != want || fromRecs.(*Text).String() != want {
			rt.Fatalf("the collected writer's encodings read back %q and %q, want %q", dec.(*Text).String(), fromRecs.(*Text).String(), want)
		}
		fresh := New(TypeText).(*Text)
		for _, k := range rapid.Permutation(indexes(len(all))).Draw(rt, "fresh") {
			fresh.Apply(all[k])
		}
		fresh.Merge(ws[0].t)
		for _, op := range later {
			fresh.Apply(op)
		}
		if fresh.String() != want {
			rt.Fatalf("a replica merging the collected one shows %q, want %q", fresh.String(), want)
		}
	})
}
