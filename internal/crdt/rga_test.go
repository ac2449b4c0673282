package crdt

import (
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// refVisible is the RGA's order by its definition: depth first from the
// head, children newest first, deleted elements skipped.
func refVisible(r *RGA) []OpID {
	var out []OpID
	stack := slices.Clone(r.root)
	slices.Reverse(stack)
	for len(stack) > 0 {
		e := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if !e.Deleted {
			out = append(out, e.ID)
		}
		kids := e.kids
		for i := len(kids) - 1; i >= 0; i-- {
			stack = append(stack, kids[i])
		}
	}
	return out
}

// The position tree gives the tree rule's order, whatever order the ops
// arrive in and whatever their clocks say; slices of it agree.
func TestProperty_RGAOrderIsTheTreeRule(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ops := genHistory(rt, []Kind{RGAInsert, RGAInsert, RGADelete})
		s := NewState()
		for _, i := range rapid.Permutation(indexes(len(ops))).Draw(rt, "order") {
			s.Deliver(ops[i])
		}
		for k, obj := range s.Objects {
			r := obj.(*RGA)
			var got []OpID
			for _, e := range r.Visible() {
				got = append(got, e.ID)
			}
			if want := refVisible(r); !slices.Equal(got, want) {
				rt.Fatalf("%s: order %v, tree rule %v", k.Key, got, want)
			}
			from := uint64(rapid.IntRange(0, len(got)).Draw(rt, "from"))
			count := uint64(rapid.IntRange(0, 5).Draw(rt, "count"))
			sl := r.Slice(from, count)
			end := min(from+count, uint64(len(got)))
			if uint64(len(sl)) != end-from {
				rt.Fatalf("Slice(%d, %d) has %d values of %d", from, count, len(sl), len(got))
			}
			for i, v := range sl {
				if string(v) != string(r.Elems[got[from+uint64(i)]].Value) {
					rt.Fatalf("Slice(%d, %d)[%d] differs", from, count, i)
				}
			}
			d, err := Decode(TypeRGA, r.AppendBinary(nil))
			if err != nil {
				rt.Fatal(err)
			}
			var dec []OpID
			for _, e := range d.(*RGA).Visible() {
				dec = append(dec, e.ID)
			}
			if !slices.Equal(dec, got) {
				rt.Fatalf("decoded order %v, want %v", dec, got)
			}
		}
	})
}

// rgaWriter edits an RGA as a replica does for a local write: an insert
// after a deleted element names the visible one before it.
type rgaWriter struct {
	r      *RGA
	origin string
	seq    uint64
	hlc    uint64
	ops    []*Op
}

func (w *rgaWriter) apply(op *Op) {
	w.r.Apply(op)
	w.ops = append(w.ops, op)
}

func (w *rgaWriter) edit(rt *rapid.T, label string) {
	for range rapid.IntRange(0, 8).Draw(rt, label+"-edits") {
		var ids []OpID // every placed element, deleted or not
		w.r.tree.walk(func(n *seqNode[*RGAElem]) bool { ids = append(ids, n.val.ID); return true })
		w.seq++
		w.hlc++
		op := &Op{Origin: w.origin, Seq: w.seq, HLC: w.hlc, Key: "l"}
		if len(ids) > 0 && rapid.IntRange(0, 2).Draw(rt, label+"-kind") == 0 {
			op.Kind, op.Ref = RGADelete, ids[rapid.IntRange(0, len(ids)-1).Draw(rt, label+"-del")]
		} else {
			op.Kind, op.Value = RGAInsert, []byte{byte('a' + rapid.IntRange(0, 25).Draw(rt, label+"-v"))}
			if i := rapid.IntRange(-1, len(ids)-1).Draw(rt, label+"-after"); i >= 0 {
				ref, ok := w.r.VisibleBefore(ids[i])
				if !ok {
					rt.Fatalf("placed element %s has no place", ids[i])
				}
				op.Ref = ref
			}
		}
		w.apply(op)
	}
}

func rgaString(r *RGA) string {
	var b strings.Builder
	for _, e := range r.Visible() {
		b.Write(e.Value)
	}
	return b.String()
}

// Collecting deleted RGA elements (CollectElem, once their deletes are
// stable) changes nothing any replica shows, now or after later
// concurrent edits, and a replica taking a collected one's state as a
// snapshot (DropCollected, then Merge) shows the same; as for Text.
func TestProperty_RGACollectionIsInvisible(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ws := make([]*rgaWriter, 3)
		for i := range ws {
			ws[i] = &rgaWriter{r: New(TypeRGA).(*RGA), origin: origins[i]}
		}
		var all []*Op
		first := -1
		for range rapid.IntRange(1, 3).Draw(rt, "rounds") {
			for _, w := range ws {
				w.edit(rt, "before")
			}
			var clock uint64
			for _, w := range ws {
				all = append(all, w.ops...)
				w.ops = nil
				clock = max(clock, w.hlc)
			}
			for _, w := range ws {
				for _, op := range all {
					w.r.Apply(op)
				}
				w.hlc = clock
			}
			if first < 0 {
				first = len(all)
			}
		}
		before := rgaString(ws[2].r)
		ws[0].r.CollectDeleted(ws[0].r.DelMark()) // through the delete log, as the replica does
		for i, w := range ws[:2] {
			var ids []OpID
			w.r.DeletedElems(func(id OpID) { ids = append(ids, id) })
			slices.SortFunc(ids, compareID)
			for _, j := range rapid.Permutation(indexes(len(ids))).Draw(rt, "collect-order") {
				if i == 0 || rapid.Bool().Draw(rt, "collect") {
					w.r.CollectElem(ids[j])
				}
			}
			if got := rgaString(w.r); got != before {
				rt.Fatalf("writer %d's collection changed its sequence: %q -> %q", i, before, got)
			}
		}
		if n := ws[0].r.DeletedLeaves(); n != 0 {
			rt.Fatalf("%d deleted leaves left after a full collection", n)
		}
		stale := New(TypeRGA).(*RGA)
		for _, op := range all[:first] {
			stale.Apply(op)
		}
		vv := map[string]uint64{}
		for _, op := range all {
			vv[op.Origin] = max(vv[op.Origin], op.Seq)
		}
		stale.DropCollected(ws[0].r, vv)
		stale.Merge(ws[0].r)
		if got := rgaString(stale); got != before {
			rt.Fatalf("a replica taking the collected state as a snapshot shows %q, want %q", got, before)
		}
		var later []*Op
		for _, w := range ws {
			w.edit(rt, "after")
			later = append(later, w.ops...)
			w.ops = nil
		}
		for _, w := range ws {
			for _, k := range rapid.Permutation(indexes(len(later))).Draw(rt, "delivery") {
				w.r.Apply(later[k])
			}
		}
		want := rgaString(ws[2].r)
		for i, w := range ws[:2] {
			if got := rgaString(w.r); got != want {
				rt.Fatalf("writer %d (collected) shows %q, writer 2 (not collected) %q", i, got, want)
			}
		}
		fromRecs, err := FromRecords(TypeRGA, Records(ws[0].r))
		if err != nil {
			rt.Fatal(err)
		}
		if got := rgaString(fromRecs.(*RGA)); got != want {
			rt.Fatalf("the collected writer's records read back %q, want %q", got, want)
		}
	})
}

// A delete that arrives before its insert, in an epoch that closes before
// the insert comes: the element is collected by a later epoch (it used to
// leave the delete log with the first and stay forever on that node only).
func TestCollect_DeleteBeforeInsertWaitsForALaterEpoch(t *testing.T) {
	const a, b = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	ins := &Op{Kind: RGAInsert, Key: "l", Origin: a, Seq: 1, HLC: 1 << 16, Value: []byte("x")}
	del := &Op{Kind: RGADelete, Key: "l", Origin: b, Seq: 1, HLC: 2 << 16, Ref: ins.ID()}
	r := &RGA{}
	r.Apply(del)
	if recs, _ := r.CollectDeleted(r.DelMark()); len(recs) != 0 {
		t.Fatalf("collected %d records before the insert came", len(recs))
	}
	r.Apply(ins)
	if !r.InsertedDeleted(ins.ID()) || r.DelsWaiting() == 0 {
		t.Fatalf("the element inserted after its delete waits for nothing (InsertedDeleted %v, %d waiting)", r.InsertedDeleted(ins.ID()), r.DelsWaiting())
	}
	if recs, _ := r.CollectDeleted(r.DelMark()); len(recs) != 1 || len(r.Elems) != 0 {
		t.Fatalf("a later epoch collected %d records, %d elements left; want 1 and 0", len(recs), len(r.Elems))
	}

	run := &Op{Kind: TextInsert, Key: "t", Origin: a, Seq: 1, HLC: 1 << 16, Value: []byte("xy")}
	tdel := &Op{Kind: TextDelete, Key: "t", Origin: b, Seq: 1, HLC: 2 << 16,
		Value: AppendTextRanges(nil, []TextRange{{Run: run.ID(), Off: 0, N: 2}})}
	tx := &Text{}
	tx.Apply(tdel)
	tx.CollectDeleted(tx.DelMark())
	tx.Apply(run)
	if !tx.InsertedDeleted(run.ID()) || tx.DelsWaiting() == 0 {
		t.Fatalf("the run inserted after its deletes waits for nothing (%d waiting)", tx.DelsWaiting())
	}
	if recs, _ := tx.CollectDeleted(tx.DelMark()); len(recs) == 0 || tx.String() != "" {
		t.Fatalf("a later epoch collected %d records; text %q", len(recs), tx.String())
	}
}
