package crdt

import (
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// refVisible is the RGA's order by its definition: depth first from the
// head, children newest first, deleted elements skipped.
func refVisible(r *RGA) []OpID {
	var out []OpID
	stack := slices.Clone(r.children[OpID{}])
	slices.Reverse(stack)
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if !r.Elems[id].Deleted {
			out = append(out, id)
		}
		kids := r.children[id]
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
