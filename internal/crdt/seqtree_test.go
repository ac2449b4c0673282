package crdt

import (
	"testing"

	"pgregory.net/rapid"
)

// nextVisible gives what walking the order with next and skipping nodes
// of no visible length gives, whatever the tree's shape (splayed by
// random accesses) and wherever the hidden nodes are.
func TestProperty_NextVisibleSkipsHiddenNodes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var tr seqTree[int]
		var nodes []*seqNode[int]
		for i := range rapid.IntRange(1, 200).Draw(t, "n") {
			n := &seqNode[int]{val: i, vis: rapid.SampledFrom([]int{0, 0, 1, 3}).Draw(t, "vis")}
			var after *seqNode[int]
			if len(nodes) > 0 {
				after = nodes[len(nodes)-1]
			}
			tr.insertAfter(after, n)
			nodes = append(nodes, n)
		}
		for range rapid.IntRange(0, 20).Draw(t, "splays") {
			tr.splay(nodes[rapid.IntRange(0, len(nodes)-1).Draw(t, "at")])
		}
		for i, n := range nodes {
			var want *seqNode[int]
			for _, m := range nodes[i+1:] {
				if m.vis > 0 {
					want = m
					break
				}
			}
			if got := tr.nextVisible(n); got != want {
				t.Fatalf("after node %d: got %v, want %v", i, got, want)
			}
		}
	})
}
