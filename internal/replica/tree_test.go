package replica

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/testutil"
)

// treeSent returns the Acks peer was sent that carry relay-tree fields.
func (rc *recorder) treeSent(peer string) []*Message {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []*Message
	for i, m := range rc.msgs {
		if m.Kind == Ack && rc.to[i] == peer && len(m.Prune)+len(m.Graft)+len(m.Have) > 0 {
			out = append(out, m)
		}
	}
	return out
}

// counterOp is op seq of origin, an increment of "c".
func counterOp(origin string, seq uint64) *crdt.Op {
	return &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1, Origin: origin, Seq: seq, HLC: seq << 16}
}

// TestTree_PruneHaveGraft: a relayed batch that brings nothing new of an
// origin prunes its sender for that origin (once, not again at once); an
// origin's own push and an answer to a pull prune nothing. A pruned peer
// is relayed none of that origin's ops and is told of them by a Have
// instead; once it grafts, it is relayed to again.
func TestTree_PruneHaveGraft(t *testing.T) {
	const o, p, q, s = "0123456789abcdef0123456789abcdef", "1111111111111111111111111111111a", "2222222222222222222222222222222b", "3333333333333333333333333333333c"
	r, pr := recorded(t, Config{RelayDelay: time.Millisecond, LazyInterval: 10 * time.Millisecond}, p, q, s)
	handle := func(from string, m *Message) {
		t.Helper()
		if err := r.Handle(from, m); err != nil {
			t.Fatal(err)
		}
	}
	handle(p, &Message{Kind: PushOps, Ops: []*crdt.Op{counterOp(o, 1)}})
	handle(q, &Message{Kind: PushOps, Ops: []*crdt.Op{counterOp(o, 1)}}) // relayed again: a duplicate
	handle(q, &Message{Kind: PushOps, Ops: []*crdt.Op{counterOp(o, 1)}})
	handle(s, &Message{Kind: PushOps, Ops: []*crdt.Op{counterOp(o, 1)}, Answer: true})
	handle(p, &Message{Kind: PushOps, Ops: []*crdt.Op{counterOp(p, 1)}})
	handle(p, &Message{Kind: PushOps, Ops: []*crdt.Op{counterOp(p, 1)}}) // from its origin
	if got := pr.treeSent(q); len(got) != 1 || !slices.Equal(got[0].Prune, []string{o}) || len(got[0].VV) != 0 {
		t.Fatalf("q was sent %+v; want one Prune of %s that acknowledges nothing", got, o)
	}
	for _, peer := range []string{p, s} {
		if got := pr.treeSent(peer); len(got) != 0 {
			t.Fatalf("%s was sent %+v; want nothing (an origin's own push, an answer)", peer, got[0])
		}
	}
	if got := r.TreeLinks(); !slices.Equal(got[o], []string{q}) || len(got) != 1 {
		t.Fatalf("lazy links %v, want q for %s only", got, o)
	}

	// Op 2 of o from p: relayed to s, not to q, which hears of it by a Have.
	handle(p, &Message{Kind: PushOps, Ops: []*crdt.Op{counterOp(o, 2)}})
	testutil.Eventually(t, 20*time.Second, "op 2 relayed to s and announced to q", func() bool {
		return slices.Contains(pr.opsTo(s, o), 2) && len(pr.treeSent(q)) == 2
	})
	if got := pr.treeSent(q)[1]; got.Have[o] != 2 || len(got.Have) != 1 || len(got.VV) != 0 {
		t.Fatalf("q was told %+v; want Have %s:2", got, o)
	}
	if got := pr.opsTo(q, o); len(got) != 0 {
		t.Fatalf("ops %v of %s relayed to q, which pruned them", got, o)
	}

	// q grafts: op 3 goes to it again.
	handle(q, &Message{Kind: Ack, VV: map[string]uint64{}, Graft: []string{o}})
	handle(p, &Message{Kind: PushOps, Ops: []*crdt.Op{counterOp(o, 3)}})
	testutil.Eventually(t, 20*time.Second, "op 3 relayed to q after its graft", func() bool {
		return slices.Equal(pr.opsTo(q, o), []uint64{3})
	})
	if got := r.TreeLinks(); len(got) != 0 {
		t.Fatalf("lazy links %v after the graft, want none", got)
	}
	if st := r.Stats(); st.TreePrunes != 1 || st.TreeHaves != 1 {
		t.Fatalf("stats %+v: want 1 prune, 1 have", st)
	}
}

// TestTree_HaveBeyondPullsAndGrafts: a Have from a lazy peer of ops this
// node lacks makes it, GapPullDelay later, graft that peer and pull from
// it, once per announcement however often it is repeated meanwhile; a Have
// of what it holds, and Prunes, Grafts or Haves naming origins it does not
// know, change nothing and cost nothing (a hostile peer's claims).
func TestTree_HaveBeyondPullsAndGrafts(t *testing.T) {
	const o, p, q = "0123456789abcdef0123456789abcdef", "1111111111111111111111111111111a", "2222222222222222222222222222222b"
	const delay = 50 * time.Millisecond
	r, pr := recorded(t, Config{GapPullDelay: delay}, p, q)
	handle := func(from string, m *Message) {
		t.Helper()
		if err := r.Handle(from, m); err != nil {
			t.Fatal(err)
		}
	}
	handle(p, &Message{Kind: PushOps, Ops: []*crdt.Op{counterOp(o, 1)}})
	var unknown []string
	for i := range 100 {
		unknown = append(unknown, fmt.Sprintf("%032x", i+1))
	}
	have := map[string]uint64{o: 1}
	for _, u := range unknown {
		have[u] = 1 << 40
	}
	handle(q, &Message{Kind: Ack, VV: map[string]uint64{}, Prune: append([]string{o}, unknown...), Graft: unknown, Have: have})
	r.mu.Lock()
	ahead, lazy := len(r.tree.ahead), len(r.tree.lazy)
	r.mu.Unlock()
	if ahead != 0 || lazy != 1 {
		t.Fatalf("after claims about unknown origins: %d peers ahead, %d origins lazy; want 0 and 1 (%s)", ahead, lazy, o)
	}
	time.Sleep(3 * delay) // nothing is due: a gap would be pulled by now
	if n := pr.pulled(q); n != 0 {
		t.Fatalf("%d pulls to q, which announced nothing new", n)
	}

	start := time.Now()
	for range 200 {
		handle(q, &Message{Kind: Ack, VV: map[string]uint64{}, Have: map[string]uint64{o: 5}})
	}
	testutil.Eventually(t, 20*time.Second, "q pulled", func() bool { return pr.pulled(q) == 1 })
	if waited := time.Since(start); waited < delay {
		t.Fatalf("q asked after %v; an announcement waits %v for the op to come by the tree", waited, delay)
	}
	var grafts [][]string
	for _, m := range pr.treeSent(q) {
		if len(m.Graft) > 0 {
			grafts = append(grafts, m.Graft)
		}
	}
	if len(grafts) != 1 || !slices.Equal(grafts[0], []string{o}) {
		t.Fatalf("q was sent grafts %v; want one Graft of %s", grafts, o)
	}
	if got := r.TreeLinks(); len(got) != 0 {
		t.Fatalf("lazy links %v after the graft, want none", got)
	}
	time.Sleep(3 * delay)
	if n := pr.pulled(q); n != 1 {
		t.Fatalf("%d pulls to q for 200 copies of one announcement; want 1", n)
	}
}

// TestTree_CopiesPerOpNearOne: on 12 nodes linked in a ring with chords
// (cycles everywhere; no random pulls, no anti-entropy), once the relay
// tree has formed every node receives each op about once: the copies
// received per op stay within 1.25 × (N-1) (11.00 per op, N-1 = 11, in
// both modes). Relaying every new op to every peer not known to hold it,
// the build before the tree, delivered 15.5-16.3 here.
func TestTree_CopiesPerOpNearOne(t *testing.T) { bothModes(t, testTreeCopiesPerOpNearOne) }

func testTreeCopiesPerOpNearOne(t *testing.T) {
	const n, warm, ops = 12, 100, 400
	c := newCluster(t, n, Config{})
	ringWithChords(c, 7)
	c.awaitLinks()
	writeCounted := func(k int, want uint64) {
		for range k {
			write(t, c.nodes[0], &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1})
			time.Sleep(time.Millisecond)
		}
		testutil.Eventually(t, 30*time.Second, "every node holding every op", func() bool {
			for _, r := range c.nodes {
				if gcounter(r, "c") != want {
					return false
				}
			}
			return true
		})
	}
	writeCounted(warm, warm)
	before := received(c.nodes)
	writeCounted(ops, warm+ops)
	per := float64(received(c.nodes)-before) / ops
	t.Logf("op copies received per op: %.2f (N-1 = %d)", per, n-1)
	if per > 1.25*(n-1) {
		t.Fatalf("%.2f op copies received per op on %d nodes; want at most 1.25 × %d", per, n, n-1)
	}
	lazy := 0
	for _, r := range c.nodes {
		lazy += len(r.TreeLinks()[c.nodes[0].NodeID()])
	}
	if lazy == 0 {
		t.Fatal("no link lazy for the writer's ops: no tree formed")
	}
}

// ringWithChords links node i to i+1 and to one random other node.
func ringWithChords(c *cluster, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed))
	n := len(c.nodes)
	for i, r := range c.nodes {
		links := []string{c.nodes[(i+1)%n].NodeID()}
		if j := rng.IntN(n); j != i && j != (i+1)%n {
			links = append(links, c.nodes[j].NodeID())
		}
		c.net.SetLinks(r.NodeID(), links)
	}
}

// received is the op copies the nodes received, in all.
func received(nodes []*Replica) uint64 {
	var sum uint64
	for _, r := range nodes {
		s := r.Stats()
		sum += s.RemoteApplied + s.RemoteDuplicates + s.RemoteBuffered + s.RemoteDropped
	}
	return sum
}

// TestTree_GraftRepairsALostPath: O is linked to A and B, both to C. Once
// C's tree for O has one eager parent, that link loses every push; with
// no random pulls and no anti-entropy, C still gets each of O's ops: its
// lazy parent announces them, C pulls them from it and grafts it.
func TestTree_GraftRepairsALostPath(t *testing.T) { bothModes(t, testTreeGraftRepairsALostPath) }

func testTreeGraftRepairsALostPath(t *testing.T) {
	c := newCluster(t, 4, Config{})
	o, a, b, cc := c.nodes[0], c.nodes[1], c.nodes[2], c.nodes[3]
	c.net.SetLinks(o.NodeID(), []string{a.NodeID(), b.NodeID()})
	c.net.SetLinks(a.NodeID(), []string{cc.NodeID()})
	c.net.SetLinks(b.NodeID(), []string{cc.NodeID()})
	c.awaitLinks()
	var lazy []string
	for i := uint64(1); ; i++ {
		write(t, o, &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1})
		testutil.Eventually(t, 30*time.Second, "C holding O's op", func() bool { return gcounter(cc, "c") == i })
		if lazy = cc.TreeLinks()[o.NodeID()]; len(lazy) == 1 {
			break
		}
		if i == 200 {
			t.Fatalf("C's links for O after %d ops: lazy %v, want one of A and B", i, lazy)
		}
	}
	lost := a.NodeID()
	if lazy[0] == a.NodeID() {
		lost = b.NodeID()
	}
	c.net.SetLoss(func(from, to string, m *Message) bool {
		return from == lost && to == cc.NodeID() && m.Kind == PushOps
	})
	have := gcounter(cc, "c")
	for range 50 {
		write(t, o, &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1})
	}
	testutil.Eventually(t, 30*time.Second, "C holding O's ops with its eager parent's pushes lost", func() bool {
		return gcounter(cc, "c") == have+50
	})
	if s := cc.Stats(); s.TreeGrafts == 0 {
		t.Fatalf("C's stats %+v: no graft", s)
	}
	if got := cc.TreeLinks()[o.NodeID()]; slices.Contains(got, lazy[0]) {
		t.Fatalf("C's lazy links for O %v still hold %s, which it grafted", got, lazy[0])
	}
}
