package replica

import (
	"maps"
	"slices"
	"time"
)

// The relay tree: Plumtree (Leitão, Pereira and Rodrigues, "Epidemic
// Broadcast Trees", 2007), one tree per origin. Every link starts eager: a
// node relays an origin's new ops to every peer (the relay rules of send
// still apply). A relayed batch that brings nothing new of an origin shows
// that origin's ops reach this node by another path: the link is made lazy
// for that origin on both ends (the receiver sends Prune), and what is left
// eager is a spanning tree per origin, each op crossing each node once. To
// a lazy peer a node announces instead, every LazyInterval, what it holds
// (Have); a node told of ops it still lacks LazyPullDelay later asks that
// peer for them and grafts the link back (Graft), which repairs the tree
// when a link or a node on it is lost. docs/wire-protocol.md, "Relay tree".

// tree is the relay tree's state (guarded by Replica.mu). Every map is
// keyed by connected peers and known origins only: bounded.
type tree struct {
	// lazy maps an origin to the peers its ops are neither relayed to nor
	// from, with when the link was last pruned (a prune is sent again,
	// at most every pruneAgain, to a peer that keeps relaying: an older
	// build that does not know prunes).
	lazy map[string]map[string]time.Time
	// announce holds, per lazy peer, the ops (origin -> seq) relayed here
	// since the last Have; told, what each was last told.
	announce, told map[string]map[string]uint64
	// ahead holds, per peer, what it announced beyond this node's vector.
	ahead map[string]map[string]uint64
	// answered is, per origin, the highest seq that came in answer to a
	// pull: a duplicate at or below it may have come first by that pull,
	// not by another relay path, and prunes nothing.
	answered map[string]uint64
}

// pruneAgain is how long a lazy link goes before a duplicate over it is
// answered with another prune.
const pruneAgain = time.Second

func newTree() tree {
	return tree{lazy: map[string]map[string]time.Time{}, announce: map[string]map[string]uint64{},
		told: map[string]map[string]uint64{}, ahead: map[string]map[string]uint64{}, answered: map[string]uint64{}}
}

// isLazy reports whether origin's ops are not relayed to peer.
func (t *tree) isLazy(origin, peer string) bool {
	_, ok := t.lazy[origin][peer]
	return ok
}

// setLazy makes peer's link lazy for origin.
func (t *tree) setLazy(origin, peer string, now time.Time) {
	m := t.lazy[origin]
	if m == nil {
		m = map[string]time.Time{}
		t.lazy[origin] = m
	}
	m[peer] = now
}

// forget drops peer from the tree: a new link starts eager.
func (t *tree) forget(peer string) {
	for o, m := range t.lazy {
		delete(m, peer)
		if len(m) == 0 {
			delete(t.lazy, o)
		}
	}
	delete(t.announce, peer)
	delete(t.told, peer)
	delete(t.ahead, peer)
}

// treePush is what a PushOps from peer means to the tree, before its ops
// are applied: the origins to prune peer for (every op of theirs in a
// relayed batch already held, none of them perhaps taken by a pull first),
// or, for an answer to a pull, the seqs it brings. r.mu must be held, and
// the batch's origins must be within MaxOrigins.
func (r *Replica) treePush(peer string, m *Message) (prune []string) {
	t := &r.tree
	if m.Answer {
		for _, op := range m.Ops {
			t.answered[op.Origin] = max(t.answered[op.Origin], op.Seq)
		}
		return nil
	}
	var seen map[string]bool // origins of the batch; true: all held
	for _, op := range m.Ops {
		o := op.Origin
		if o == peer {
			continue // an origin's own pushes are never pruned
		}
		if seen == nil {
			seen = map[string]bool{}
		}
		dup, ok := seen[o]
		if !ok {
			dup = true
		}
		seen[o] = dup && op.Seq <= r.state.VV[o] && op.Seq > t.answered[o]
	}
	now := time.Now()
	for o, dup := range seen {
		if !dup {
			continue
		}
		if at, ok := t.lazy[o][peer]; ok && now.Sub(at) < pruneAgain {
			continue
		}
		t.setLazy(o, peer, now)
		prune = append(prune, o)
	}
	slices.Sort(prune)
	return prune
}

// sendPrune asks peer to stop relaying origins' ops here.
func (r *Replica) sendPrune(peer string, origins []string) {
	r.stats.treePrunes.Add(uint64(len(origins)))
	if err := r.cfg.Transport.Send(peer, &Message{Kind: Ack, VV: map[string]uint64{}, Prune: origins}); err != nil {
		r.log.Debug("prune not sent", "peer", peer, "err", err)
	}
}

// treeAck takes an Ack's Prune, Graft and Have from peer. Names of origins
// this node does not know cost nothing.
func (r *Replica) treeAck(peer string, m *Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := &r.tree
	now := time.Now()
	for _, o := range m.Prune {
		if _, known := r.state.VV[o]; known && o != r.nodeID {
			t.setLazy(o, peer, now)
		}
	}
	for _, o := range m.Graft {
		if l := t.lazy[o]; l != nil {
			delete(l, peer)
			if len(l) == 0 {
				delete(t.lazy, o)
			}
		}
	}
	late := false
	for o, s := range m.Have {
		if have, known := r.state.VV[o]; known && s > have && o != r.nodeID {
			a := t.ahead[peer]
			if a == nil {
				a = map[string]uint64{}
				t.ahead[peer] = a
			}
			a[o] = max(a[o], s)
			late = true
		}
	}
	if late {
		r.noteGap(peer)
	}
}

// announce queues, for every lazy peer of their origins, the relayed ops of
// batch (durable here) for the next Have. r.mu must be held.
func (r *Replica) announce(batch []item) {
	t := &r.tree
	for _, it := range batch {
		o := it.op.Origin
		for p := range t.lazy[o] {
			if p == it.from || p == o {
				continue
			}
			a := t.announce[p]
			if a == nil {
				a = map[string]uint64{}
				t.announce[p] = a
			}
			a[o] = max(a[o], it.op.Seq)
		}
	}
}

// haveLoop sends the queued announcements every LazyInterval, each op only
// to a peer not known to hold it.
func (r *Replica) haveLoop() {
	defer r.wg.Done()
	tk := time.NewTicker(r.cfg.LazyInterval)
	defer tk.Stop()
	for {
		select {
		case <-tk.C:
		case <-r.ctx.Done():
			return
		}
		out := map[string]map[string]uint64{}
		r.mu.Lock()
		t := &r.tree
		for p, a := range t.announce {
			told, holds := t.told[p], r.peerVV[p]
			for o, s := range a {
				if s <= told[o] || s <= holds[o] {
					continue
				}
				if told == nil {
					told = map[string]uint64{}
					t.told[p] = told
				}
				told[o] = s
				if out[p] == nil {
					out[p] = map[string]uint64{}
				}
				out[p][o] = s
			}
			delete(t.announce, p)
		}
		r.mu.Unlock()
		for _, p := range slices.Sorted(maps.Keys(out)) {
			r.stats.treeHaves.Add(1)
			if err := r.cfg.Transport.Send(p, &Message{Kind: Ack, VV: map[string]uint64{}, Have: out[p]}); err != nil {
				r.log.Debug("have not sent", "peer", p, "err", err)
			}
		}
	}
}

// graftFor makes eager again, and returns, the origins of which peer
// announced or pushed ops this node still lacks over a link lazy for them;
// the announcements are then spent (the pull that follows asks for them).
// r.mu must be held.
func (r *Replica) graftFor(peer string) []string {
	t := &r.tree
	var graft []string
	lacks := func(o string, s uint64) {
		if s > r.state.VV[o] && t.isLazy(o, peer) && !slices.Contains(graft, o) {
			graft = append(graft, o)
		}
	}
	for o, s := range t.ahead[peer] {
		lacks(o, s)
	}
	for o, s := range r.peerVV[peer] {
		lacks(o, s)
	}
	for _, o := range graft {
		delete(t.lazy[o], peer)
		if len(t.lazy[o]) == 0 {
			delete(t.lazy, o)
		}
	}
	delete(t.ahead, peer)
	slices.Sort(graft)
	return graft
}

// TreeLinks returns, per origin, the peers this node's relay tree has made
// lazy (for tests and diagnostics).
func (r *Replica) TreeLinks() map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]string, len(r.tree.lazy))
	for o, m := range r.tree.lazy {
		out[o] = slices.Sorted(maps.Keys(m))
	}
	return out
}
