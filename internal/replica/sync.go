package replica

import (
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/opauth"
)

// sendLoop batches this node's own ops (up to BatchSize, waiting at most
// BatchDelay for more), waits until the store has fsynced every op in the
// batch, and pushes it to every connected peer: each link carries its
// origin's ops in order, so a peer linked to the origin never sees a gap.
func (r *Replica) sendLoop() {
	defer r.wg.Done()
	// With Auth, a batch carries a head when SignEvery has passed since
	// the last one, or when BatchSize*4 ops went without one; otherwise
	// tail is the unsigned head a timer signs and sends alone, SignEvery
	// after the last one, if no batch came first.
	var lastSign time.Time
	var tail *opauth.Head
	unsigned := 0
	var tailTimer *time.Timer
	var tailDue <-chan time.Time
	defer func() {
		if tailTimer != nil {
			tailTimer.Stop()
		}
	}()
	for {
		batch, wait := r.q.take(r.cfg.BatchSize)
		if batch == nil {
			if tail != nil && tailDue == nil {
				d := time.Until(lastSign.Add(r.cfg.Auth.signEvery(len(r.cfg.Transport.Peers()))))
				if tailTimer == nil {
					tailTimer = time.NewTimer(d)
				} else {
					tailTimer.Reset(d)
				}
				tailDue = tailTimer.C
			}
			select {
			case <-wait:
				continue
			case <-tailDue:
				tailDue = nil
				if tail != nil {
					r.sendHead(tail)
					lastSign, tail, unsigned = time.Now(), nil, 0
				}
				continue
			case <-r.ctx.Done():
				return
			}
		}
		if len(batch) < r.cfg.BatchSize {
			// A short batch: give writers one BatchDelay to fill it.
			t := time.NewTimer(r.cfg.BatchDelay)
			select {
			case <-t.C:
			case <-r.ctx.Done():
			}
			t.Stop()
			more, _ := r.q.take(r.cfg.BatchSize - len(batch))
			batch = append(batch, more...)
		}
		// Made durable even with no peer connected: the fsync here also
		// applies the store's grouped commits off the writer's goroutine
		// (skipping it alone made a text replay 10 % slower on 2 cores).
		peers := r.cfg.Transport.Peers()
		if !r.durable(batch) {
			return
		}
		if r.cfg.Auth != nil {
			last := &batch[len(batch)-1]
			h := &opauth.Head{Origin: r.nodeID, Seq: last.op.Seq, Chain: last.chain}
			unsigned += len(batch)
			if time.Since(lastSign) >= r.cfg.Auth.signEvery(len(r.cfg.Transport.Peers())) || unsigned >= 4*r.cfg.BatchSize {
				if r.signOwn(h, last.op) == nil {
					last.head = h
					lastSign, tail, unsigned = time.Now(), nil, 0
				}
			} else {
				tail = h
				tailDue = nil // re-armed for this tail once the queue is empty
				last.cont = true
			}
			for i := range batch[:len(batch)-1] {
				batch[i].cont = true
			}
		}
		r.send(peers, batch)
		r.q.recycle(batch)
	}
}

// signOwn signs h, a head of this node's own ops ending with op, and
// stores it with op's log entry, so pull answers carry it too.
func (r *Replica) signOwn(h *opauth.Head, op *crdt.Op) error {
	if err := r.cfg.Auth.Signer.Sign(h); err != nil {
		r.log.Error("head not signed; the ops go out unproved until the next one", "err", err)
		return err
	}
	r.stats.headsSigned.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if h.Seq > r.ownSigned.Seq {
		r.ownSigned = *h
	}
	if start := r.logStart[r.nodeID]; start != 0 && start <= h.Seq && r.failed == nil {
		b := r.st.NewBatch()
		b.Log(r.nodeID, h.Seq, LogValue(op, h))
		if _, err := r.st.Commit(b); err != nil {
			r.log.Warn("head not stored with its op", "err", err)
		}
	}
	return nil
}

// sendHead signs a head of this node's own ops already sent without one
// and sends it alone to every connected peer.
func (r *Replica) sendHead(h *opauth.Head) {
	r.mu.Lock()
	op := r.ownOp(h.Seq)
	r.mu.Unlock()
	if op == nil {
		return
	}
	if r.signOwn(h, op) != nil {
		return
	}
	for _, peer := range r.cfg.Transport.Peers() {
		r.push(peer, func() *Message {
			return &Message{Kind: PushOps, Heads: []*opauth.Head{h}, Certs: r.certsFor(peer, []*opauth.Head{h})}
		})
	}
}

// ownOp reads this node's op seq from the op log (nil if pruned). r.mu
// must be held.
func (r *Replica) ownOp(seq uint64) *crdt.Op {
	v, err := r.st.LogEntry(r.nodeID, seq)
	if err != nil {
		return nil
	}
	op, _, err := DecodeLogValue(v)
	if err != nil {
		return nil
	}
	return op
}

// relayLoop forwards ops learned from peers. A relay waits RelayDelay
// first, so that the acknowledgements of the peers that had the op
// straight from its origin arrive; send then skips every peer known to
// hold it. In a full mesh almost nothing is relayed; where links are a
// subset (gossip mode) the op goes down the relay tree of its origin (to
// the eager peers; the lazy ones are told of it at the next Have).
func (r *Replica) relayLoop() {
	defer r.wg.Done()
	timer := time.NewTimer(r.cfg.RelayDelay)
	defer timer.Stop()
	for {
		batch, wait, oldest := r.relays.takeDue(r.cfg.BatchSize, time.Now().Add(-r.cfg.RelayDelay))
		if batch == nil {
			var due <-chan time.Time
			if !oldest.IsZero() {
				timer.Reset(time.Until(oldest.Add(r.cfg.RelayDelay)))
				due = timer.C
			}
			select {
			case <-wait:
			case <-due:
			case <-r.ctx.Done():
				return
			}
			continue
		}
		peers := r.cfg.Transport.Peers()
		if !r.durable(batch) {
			return
		}
		r.mu.Lock()
		r.announce(batch)
		r.mu.Unlock()
		r.send(peers, batch)
		r.relays.recycle(batch)
	}
}

// noteGap records that peer's push left a gap open here: peer holds every
// op before the one held back, so unless the gap closes by itself within
// GapPullDelay, gapLoop asks peer for what this node lacks. r.mu must be
// held.
func (r *Replica) noteGap(peer string) {
	if _, ok := r.gaps[peer]; ok {
		return
	}
	now := time.Now()
	r.gaps[peer] = gap{opened: now, due: now.Add(r.cfg.GapPullDelay)}
	select {
	case r.gapKick <- struct{}{}:
	default:
	}
}

// gap is a peer's entry in Replica.gaps.
type gap struct{ opened, due time.Time }

// linkedGapFactor: a gap in the ops of an origin this node is linked to is
// left to the origin's own ordered pushes for this many GapPullDelays
// before the peer is asked anyway (a push the origin could not send, say).
const linkedGapFactor = 10

// gapLoop pulls from the peers noted by noteGap once their delay is up, if
// they are still known to hold ops this node lacks: at once for an origin
// it is not linked to, after linkedGapFactor delays for one it is.
func (r *Replica) gapLoop() {
	defer r.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		var due []string
		var next time.Time
		linked := map[string]bool{}
		for _, p := range r.cfg.Transport.Peers() {
			linked[p] = true
		}
		grafts := map[string][]string{}
		r.mu.Lock()
		for peer, g := range r.gaps {
			if !g.due.After(now) {
				unlinked, any := r.lacksFrom(peer, linked)
				switch {
				case unlinked || any && now.Sub(g.opened) >= linkedGapFactor*r.cfg.GapPullDelay:
					delete(r.gaps, peer)
					due = append(due, peer)
					grafts[peer] = r.graftFor(peer)
					continue
				case !any:
					delete(r.gaps, peer)
					delete(r.tree.ahead, peer)
					continue
				}
				g.due = now.Add(r.cfg.GapPullDelay) // a linked origin's gap: look again
				r.gaps[peer] = g
			}
			if next.IsZero() || g.due.Before(next) {
				next = g.due
			}
		}
		r.mu.Unlock()
		for _, peer := range due {
			if g := grafts[peer]; len(g) > 0 {
				// The link was lazy for what peer has: eager again, so
				// that what comes next of those origins comes by it.
				r.stats.treeGrafts.Add(uint64(len(g)))
				if err := r.cfg.Transport.Send(peer, &Message{Kind: Ack, VV: map[string]uint64{}, Graft: g}); err != nil {
					r.log.Debug("graft not sent", "peer", peer, "err", err)
				}
			}
			r.stats.gapPulls.Add(1)
			r.pull(peer)
		}
		var wake <-chan time.Time
		if !next.IsZero() {
			timer.Reset(time.Until(next))
			wake = timer.C
		}
		select {
		case <-r.gapKick:
		case <-wake:
		case <-r.ctx.Done():
			return
		}
	}
}

// lacksFrom reports whether peer is known to hold ops this node has not
// applied: any, and of an origin this node is not linked to. An origin
// that is linked sends its own ops in order, so that gap normally closes by
// itself (a pull would fetch again all that is in flight: in a full mesh
// under load, relays often overtake the origin's own stream). r.mu must be
// held.
func (r *Replica) lacksFrom(peer string, linked map[string]bool) (unlinked, any bool) {
	for _, held := range []map[string]uint64{r.peerVV[peer], r.tree.ahead[peer]} {
		for o, s := range held {
			if s > r.state.VV[o] {
				any = true
				unlinked = unlinked || !linked[o]
			}
		}
	}
	return unlinked, any
}

// durable makes sure every op of batch is fsynced here (an op leaves a
// node only once durable there). Rather than wait for the interval's fsync
// it syncs now: one fsync covers the whole batch (group commit), and the
// replication delay stays near one fsync. False means the replica is
// closing or the store failed.
func (r *Replica) durable(batch []item) bool {
	var maxSeq uint64
	for _, it := range batch {
		maxSeq = max(maxSeq, it.seq)
	}
	if r.st.DurableSeq() < maxSeq {
		if err := r.st.Sync(); err != nil && r.ctx.Err() == nil {
			r.log.Error("outbound batch not sent: fsync failed", "err", err)
			return false
		}
	}
	if err := r.st.WaitDurable(r.ctx, maxSeq); err != nil {
		if r.ctx.Err() == nil {
			r.log.Error("outbound batch not sent: store not durable", "err", err)
		}
		return false
	}
	return true
}

// send pushes batch to the connected peers in random order, each getting
// the ops it is not known to hold (not the peer an op came from, not its
// origin, nothing its acknowledgements already cover) and, of relayed ops,
// only those whose origin it is not linked to (the origin pushes its own
// ops to every peer it is linked to) and whose relay tree has not made its
// link lazy. Own ops go to every peer. peers are the peers connected when
// the batch was made durable: only they may be sent it.
func (r *Replica) send(peers []string, batch []item) {
	rand.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
	for _, peer := range peers {
		var n int
		queued := r.push(peer, func() *Message {
			ops, heads, certs := r.unheld(peer, batch)
			if n = len(ops); n == 0 {
				return nil
			}
			return &Message{Kind: PushOps, Ops: ops, Heads: heads, Certs: certs}
		})
		if !queued {
			continue
		}
		r.stats.batches.Add(1)
		r.stats.opsSent.Add(uint64(n))
	}
}

// unheld returns the ops of batch that peer is to get (see send), the
// heads that prove them and the certificates its link has not carried.
// r.mu must be held.
func (r *Replica) unheld(peer string, batch []item) ([]*crdt.Op, []*opauth.Head, [][]byte) {
	has, links := r.peerVV[peer], r.peerLinks[peer]
	var ops []*crdt.Op
	var heads []*opauth.Head
	for _, it := range batch {
		o := it.op.Origin
		if it.from != peer && o != peer && has[o] < it.op.Seq && (o == r.nodeID || !links[o] && !r.tree.isLazy(o, peer)) {
			ops = append(ops, it.op)
			if it.head != nil {
				heads = append(heads, it.head)
			}
		}
	}
	return ops, heads, r.certsFor(peer, heads)
}

// linksLoop tells every connected peer this node's links (an Ack with
// Links) whenever they change, so that peers relay to it only the ops of
// origins it is not linked to. One goroutine sends them all, so a peer
// never gets an older set after a newer one.
func (r *Replica) linksLoop() {
	defer r.wg.Done()
	told := map[string]string{} // peer -> the links it was last told
	for {
		select {
		case <-r.linksKick:
		case <-r.ctx.Done():
			return
		}
		peers := r.cfg.Transport.Peers()
		slices.Sort(peers)
		key := strings.Join(peers, ",")
		now := make(map[string]string, len(peers))
		for _, p := range peers {
			if told[p] == key {
				now[p] = key
				continue
			}
			if err := r.cfg.Transport.Send(p, &Message{Kind: Ack, VV: map[string]uint64{}, Links: peers}); err != nil {
				r.log.Debug("links not sent", "peer", p, "err", err)
				continue
			}
			now[p] = key
		}
		told = now // a peer that left is told again when it is back
	}
}

// linksChanged wakes linksLoop.
func (r *Replica) linksChanged() {
	select {
	case r.linksKick <- struct{}{}:
	default:
	}
}

// pullRandom asks one random connected peer for what this node lacks,
// when it has to: if it is linked to every origin it knows of (its own
// vector's and the ones peers are known to hold), each origin pushes its
// own ops to it in order and nothing reaches it by relays alone, which is
// what random pulls are for; a pull would only fetch again what is in
// flight (in a loaded full mesh of 10, a fifth of all copies received).
// Anti-entropy and the pull on connect still run.
func (r *Replica) pullRandom() {
	peers := r.cfg.Transport.Peers()
	if len(peers) == 0 {
		return
	}
	linked := map[string]bool{r.nodeID: true}
	for _, p := range peers {
		linked[p] = true
	}
	r.mu.Lock()
	relayed := false
	for o := range r.state.VV {
		relayed = relayed || !linked[o]
	}
	for _, pv := range r.peerVV {
		for o := range pv {
			relayed = relayed || !linked[o]
		}
	}
	r.mu.Unlock()
	if relayed {
		r.pull(peers[rand.IntN(len(peers))])
	}
}

// every runs f every d until the replica closes.
func (r *Replica) every(d time.Duration, f func()) {
	defer r.wg.Done()
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			f()
		case <-r.ctx.Done():
			return
		}
	}
}

// AntiEntropy asks every connected peer for what this node lacks and prunes
// the op log. It runs every AntiEntropyInterval and on PeerUp.
func (r *Replica) AntiEntropy() {
	if r.cfg.Transport == nil {
		return
	}
	for _, p := range r.cfg.Transport.Peers() {
		r.pull(p)
	}
	r.prune(true)
}

// PeerUp tells the replica a peer connected: it pulls what it lacks at
// once, and the peers are told this node's links.
func (r *Replica) PeerUp(peer string) {
	if r.cfg.Transport != nil && !r.closed.Load() {
		r.linkReset(peer)
		r.linksChanged()
		r.pull(peer)
	}
}

// PeerDown tells the replica a peer's link is gone. What peer relays to
// this node now comes from others: they are told the new links, and one of
// them is asked at once for what this node lacks (ops the lost peer pushed
// to them but not here).
func (r *Replica) PeerDown(peer string) {
	if r.cfg.Transport == nil || r.closed.Load() {
		return
	}
	r.mu.Lock()
	delete(r.peerLinks, peer)
	delete(r.claims, peer)
	r.tree.forget(peer)
	r.mu.Unlock()
	r.linkReset(peer)
	r.linksChanged()
	if peers := r.cfg.Transport.Peers(); len(peers) > 0 {
		r.pull(peers[rand.IntN(len(peers))])
	}
}

func (r *Replica) pull(peer string) {
	r.mu.Lock()
	r.pulled[peer] = time.Now()
	r.mu.Unlock()
	// With Auth, an origin this node cannot prove as far as it holds (a
	// datastore written before ops were signed) is asked for from where it
	// can: the answer proves it again.
	r.mu.Lock()
	vv := make(map[string]uint64, len(r.state.VV))
	for o := range r.state.VV {
		vv[o] = r.provable(o)
	}
	r.mu.Unlock()
	if err := r.cfg.Transport.Send(peer, &Message{Kind: PullSince, VV: vv}); err != nil {
		r.log.Debug("pull failed", "peer", peer, "err", err)
	}
}
