package crdt

import (
	"bytes"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// TestProperty_RecordsWithoutTheObject checks the records a sequence's view
// writes without the whole object in memory against the ones OpRecords
// gives after the op is applied to it: a local insert's (InsertRecord) and
// a delete's run records (AddTextDeletes from the stored ones), for Texts
// edited at random by two writers, and RGAs; and that EachPiece and
// EachVisible give the visible content in order.
func TestProperty_RecordsWithoutTheObject(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		txt := &Text{}
		list := &RGA{}
		seq := map[string]uint64{}
		hlc := uint64(0)
		stamp := func(op *Op, origin string) {
			seq[origin]++
			hlc++
			op.Origin, op.Seq, op.HLC = origin, seq[origin], hlc
		}
		for range rapid.IntRange(1, 60).Draw(t, "steps") {
			origin := rapid.SampledFrom([]string{nodeA, nodeB}).Draw(t, "origin")
			switch rapid.IntRange(0, 4).Draw(t, "op") {
			case 0, 1: // a Text insert at a random place
				i := rapid.Uint64Range(0, uint64(txt.Len())).Draw(t, "at")
				parent, err := txt.ResolveInsert(i)
				if err != nil {
					t.Fatal(err)
				}
				op := &Op{Kind: TextInsert, Key: "t", Ref: parent.Run, Delta: parent.Off,
					Value: []byte(rapid.StringMatching(`[a-zé😀]{1,6}`).Draw(t, "s"))}
				stamp(op, origin)
				applyInsert(t, txt, op)
			case 2: // a Text delete of a random span
				if txt.Len() == 0 {
					continue
				}
				i := rapid.Uint64Range(0, uint64(txt.Len())-1).Draw(t, "from")
				n := rapid.Uint64Range(1, uint64(txt.Len())-i).Draw(t, "n")
				rs, _, err := txt.ResolveDelete(i, n)
				if err != nil {
					t.Fatal(err)
				}
				before := map[OpID][]byte{}
				for _, r := range rs {
					before[r.Run] = txt.runRecord(txt.runs.get(r.Run)).Value
				}
				op := &Op{Kind: TextDelete, Key: "t"}
				op.SetTextRanges(rs)
				stamp(op, origin)
				txt.Apply(op)
				for _, rec := range OpRecords(txt, op) {
					run, err := parseIDKey(rec.Sub[1:], interner{})
					if err != nil {
						t.Fatal(err)
					}
					got, err := AddTextDeletes(run, before[run], rs)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got.Sub, rec.Sub) || !bytes.Equal(got.Value, rec.Value) || !bytes.Equal(got.Sub, TextRunSub(run)) {
						t.Fatalf("delete of %v: run %v record %q, AddTextDeletes %q", rs, run, rec, got)
					}
				}
			case 3: // an RGA insert at the head or after a visible element
				op := &Op{Kind: RGAInsert, Key: "l", Value: []byte(rapid.StringMatching(`[a-z]{0,4}`).Draw(t, "v"))}
				if vis := list.Visible(); len(vis) > 0 && rapid.Bool().Draw(t, "after") {
					op.Ref = vis[rapid.IntRange(0, len(vis)-1).Draw(t, "parent")].ID
				}
				stamp(op, origin)
				applyInsert(t, list, op)
			case 4: // an RGA delete of a visible element
				vis := list.Visible()
				if len(vis) == 0 {
					continue
				}
				id := vis[rapid.IntRange(0, len(vis)-1).Draw(t, "elem")].ID
				before := list.elemRecord(id)
				op := &Op{Kind: RGADelete, Key: "l", Ref: id}
				stamp(op, origin)
				list.Apply(op)
				got, err := RGADeletedRecord(before.Value)
				if err != nil {
					t.Fatal(err)
				}
				if want := OpRecords(list, op); len(want) != 1 || !bytes.Equal(want[0].Value, got) || !bytes.Equal(want[0].Sub, RGAElemSub(id)) {
					t.Fatalf("RGA delete of %v: OpRecords %q, RGADeletedRecord %q", id, want, got)
				}
			}
		}
		var b strings.Builder
		txt.EachPiece(func(_ OpID, _ uint64, text []rune) bool {
			b.WriteString(string(text))
			return true
		})
		if b.String() != txt.String() {
			t.Fatalf("EachPiece %q, String %q", b.String(), txt.String())
		}
		var vals [][]byte
		list.EachVisible(func(_ OpID, v []byte) bool {
			vals = append(vals, v)
			return true
		})
		if want := list.Slice(0, uint64(list.Len())); len(vals) != len(want) {
			t.Fatalf("EachVisible %d values, Slice %d", len(vals), len(want))
		}
		if txt.Len() > 0 && MaxHLC(txt) == 0 {
			t.Fatal("MaxHLC 0 with runs")
		}
	})
}

// applyInsert applies insert op to obj and fails unless OpRecords then
// gives the one record InsertRecord gave before.
func applyInsert(t *rapid.T, obj Object, op *Op) {
	want, _ := InsertRecord(op)
	obj.Apply(op)
	if got := OpRecords(obj, op); len(got) != 1 || !bytes.Equal(got[0].Sub, want.Sub) || !bytes.Equal(got[0].Value, want.Value) {
		t.Fatalf("%s %v: OpRecords %q, InsertRecord %q", op.Kind, op.ID(), got, want)
	}
}
