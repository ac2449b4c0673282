package crdt

import (
	"testing"

	"pgregory.net/rapid"
)

// The run index answers as a map by id does, whatever the order seqs come
// in: in order with gaps (typing, dense), out of order, far apart
// (sparse), and removed until dense is mostly holes.
func TestProperty_RunIndexIsAMap(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var x runIndex
		model := map[OpID]*textRun{}
		origins := []string{"a", "b", "c"}
		next := map[string]uint64{}
		var ids []OpID // model's, in the order put
		for i := range rapid.IntRange(0, 3000).Draw(t, "steps") {
			o := rapid.SampledFrom(origins).Draw(t, "origin")
			var seq uint64
			switch rapid.IntRange(0, 9).Draw(t, "how") {
			case 0, 1, 2, 3, 4: // typing: the next seq, or a few past it
				seq = next[o] + 1 + rapid.Uint64Range(0, 3).Draw(t, "gap")
			case 5: // far ahead
				seq = next[o] + rapid.Uint64Range(1, 5000).Draw(t, "jump")
			case 6: // an older seq
				seq = rapid.Uint64Range(1, next[o]+1).Draw(t, "old")
			default: // remove one, held or not
				k := rapid.IntRange(0, len(ids)).Draw(t, "remove")
				if k == len(ids) {
					x.del(OpID{Origin: o, Seq: next[o] + 1})
					continue
				}
				x.del(ids[k])
				delete(model, ids[k])
				ids = append(ids[:k], ids[k+1:]...)
				continue
			}
			next[o] = max(next[o], seq)
			id := OpID{Origin: o, Seq: seq}
			if x.fresh(id) && model[id] != nil {
				t.Fatalf("step %d: %v fresh but held", i, id)
			}
			if x.get(id) != model[id] {
				t.Fatalf("step %d: get %v differs", i, id)
			}
			if model[id] == nil {
				r := &textRun{id: id}
				x.put(r)
				model[id] = r
				ids = append(ids, id)
			}
		}
		if x.len() != len(model) {
			t.Fatalf("len %d, model %d", x.len(), len(model))
		}
		seen := 0
		for r := range x.all() {
			if model[r.id] != r {
				t.Fatalf("all yields %v, not held", r.id)
			}
			seen++
		}
		if seen != len(model) {
			t.Fatalf("all yields %d runs, model holds %d", seen, len(model))
		}
		for _, id := range ids {
			if x.get(id) != model[id] {
				t.Fatalf("get %v differs at the end", id)
			}
			x.del(id)
			if x.get(id) != nil {
				t.Fatalf("%v still held after del", id)
			}
		}
		if x.len() != 0 || len(x.origins) != 0 {
			t.Fatalf("%d runs, %d origins left after removing all", x.len(), len(x.origins))
		}
	})
}

// Runs collected from the middle of a dense stretch leave holes; once
// they are most of it, what is left moves to sparse, and every look-up
// still finds its run.
func TestRunIndexSpillsHoles(t *testing.T) {
	var x runIndex
	for seq := uint64(1); seq <= 1000; seq++ {
		x.put(&textRun{id: OpID{Origin: "a", Seq: seq}})
	}
	o := x.of("a")
	if len(o.dense) != 1000 || len(o.sparse) != 0 {
		t.Fatalf("typed in order: dense %d, sparse %d; want all dense", len(o.dense), len(o.sparse))
	}
	for seq := uint64(2); seq <= 1000; seq++ {
		if seq%10 != 0 {
			x.del(OpID{Origin: "a", Seq: seq})
		}
	}
	if len(o.dense) != 0 || len(o.sparse) != 101 {
		t.Fatalf("mostly holes: dense %d, sparse %d; want 0 and 101", len(o.dense), len(o.sparse))
	}
	for seq := uint64(1); seq <= 1000; seq++ {
		held := seq == 1 || seq%10 == 0
		if r := x.get(OpID{Origin: "a", Seq: seq}); (r != nil) != held || (held && r.id.Seq != seq) {
			t.Fatalf("seq %d: got %v, held %v", seq, r, held)
		}
	}
	// Typing goes on: dense again, from the next seq.
	x.put(&textRun{id: OpID{Origin: "a", Seq: 1001}})
	if len(o.dense) != 1 || o.base != 1001 || x.len() != 102 {
		t.Fatalf("after the spill: dense %d from %d, %d runs", len(o.dense), o.base, x.len())
	}
}
