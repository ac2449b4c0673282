package replica

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/opauth"
)

// Handle processes a message from peer. It is safe to call from many
// goroutines (one per connection, typically). A malformed message is refused
// whole with an error and changes nothing; the caller decides whether to drop
// the connection.
func (r *Replica) Handle(peer string, m *Message) error {
	if r.closed.Load() {
		return ErrClosed
	}
	switch m.Kind {
	case PushOps:
		return r.handlePush(peer, m)
	case Ack:
		if len(m.Prune)+len(m.Graft)+len(m.Have) > 0 {
			// Not an acknowledgement: a Have is sent outside the peer's
			// ordered pushes and without its own seq, so counting it
			// (peerVV) could let tombstones go before this node holds the
			// peer's own ops made meanwhile (gc.go, stable).
			r.treeAck(peer, m)
		}
		if len(m.VV) > 0 {
			r.noteClaim(peer, m.VV)
		}
		r.notePeer(peer, m.VV)
		if len(m.VV) > 0 {
			defer r.pruneAcked()
		}
		if len(m.Links) > 0 {
			links := make(map[string]bool, len(m.Links))
			for _, l := range m.Links {
				links[l] = true
			}
			r.mu.Lock()
			r.peerLinks[peer] = links
			r.mu.Unlock()
		}
		return nil
	case PullSince:
		r.noteClaim(peer, m.VV)
		r.notePeer(peer, m.VV)
		return r.serve(peer, m.VV)
	case Snapshot:
		return r.handleSnapshot(peer, m)
	}
	return fmt.Errorf("replica: unknown message kind %d from %s", m.Kind, peer)
}

// notePeer records what peer is known to have (for pruning and relays).
func (r *Replica) notePeer(peer string, vv map[string]uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.heard(peer, vv)
	pv := r.peerHolds(peer)
	for o, s := range vv {
		have, known := r.state.VV[o]
		if !known {
			continue // a claim about an origin this node does not know costs nothing
		}
		// Nothing beyond what this node holds matters to it (pruning and
		// relays are about ops it has); a larger claim is not stored.
		s = min(s, have)
		if s > pv[o] {
			pv[o] = s
		}
	}
}

// peerHolds is peer's entry in peerVV, made if missing; r.mu must be held.
func (r *Replica) peerHolds(peer string) map[string]uint64 {
	pv := r.peerVV[peer]
	if pv == nil {
		pv = map[string]uint64{}
		r.peerVV[peer] = pv
	}
	return pv
}

func (r *Replica) handlePush(peer string, m *Message) error {
	ops := m.Ops
	for _, op := range ops {
		if err := op.Validate(); err != nil {
			return r.violation(peer, "invalid_op", "%v", err)
		}
		if err := r.withinLimits(op); err != nil {
			return r.violation(peer, "op_over_limit", "%v", err)
		}
		if f := r.cfg.AllowedOrigin; f != nil && !f(op.Origin) {
			return r.violation(peer, "origin_not_allowed", "op %d@%s: the origin is not in allowed_peers", op.Seq, op.Origin)
		}
	}
	if r.cfg.Auth != nil {
		if err := r.learnCerts(peer, m.Certs); err != nil {
			return err
		}
	}
	start := time.Now()
	r.mu.Lock()
	if r.failed != nil {
		r.mu.Unlock()
		return r.failed
	}
	if err := r.st.CheckWritable(); err != nil {
		// A degraded store (a full disk): nothing is taken or
		// acknowledged; the sender keeps the ops and sends them again.
		r.mu.Unlock()
		r.log.Debug("remote ops not taken: datastore degraded", "peer", peer, "err", err)
		return nil
	}
	if known, fresh := len(r.state.VV), r.newOrigins(ops); known+fresh > r.cfg.MaxOrigins {
		r.mu.Unlock()
		return r.violation(peer, "too_many_origins", "%d new origins on top of %d known, limit %d", fresh, known, r.cfg.MaxOrigins)
	}
	if prune := r.treePush(peer, m); len(prune) > 0 {
		defer r.sendPrune(peer, prune)
	}
	// A node pushes only ops it has applied (contiguously per origin) and
	// made durable: the sender holds every op up to the highest of each
	// origin here, so relays of them to it can be skipped.
	holds := r.peerHolds(peer)
	for _, op := range ops {
		holds[op.Origin] = max(holds[op.Origin], op.Seq)
	}
	var units []unit
	gap := false
	if r.cfg.Auth != nil {
		var err error
		if units, gap, err = r.prove(peer, ops, m.Heads); err != nil {
			r.mu.Unlock()
			return err
		}
	} else {
		units = make([]unit, len(ops))
		for i, op := range ops {
			units[i] = unit{peer: peer, ops: []*crdt.Op{op}}
		}
	}
	res, err := r.applyLocked(units, false)
	r.checkRecovered()
	res.gap = res.gap || gap
	if res.gap {
		r.noteGap(peer)
	}
	r.mu.Unlock()
	if err != nil {
		return err
	}
	if f := r.cfg.OnBatchApplied; f != nil {
		f(time.Since(start))
	}
	r.afterApply(res, peer)
	return nil
}

// applied is what applyLocked did, for afterApply.
type applied struct {
	ops     []*crdt.Op
	relay   []item
	scratch *[]item // relay's array, from relayScratch
	touched map[crdt.ObjKey]bool
	seq     uint64 // the store write that holds them
	vv      map[string]uint64
	skew    time.Duration
	skewBy  string // the peer whose op was furthest ahead
	gap     bool
	over    bool
	peers   []string // peers whose units were applied (acknowledged)
}

// applyLocked applies proved units in order: a unit with an op stamped
// more than MaxClockOffset ahead of the wall clock is held, not applied
// (the clock does not move), and so is every later unit of its origin
// until it is released (released: these come off the front of held).
// Everything applied is committed in one batch. r.mu must be held.
func (r *Replica) applyLocked(units []unit, released bool) (applied, error) {
	res := applied{touched: map[crdt.ObjKey]bool{}}
	wall := r.wallMs()
	limit := wall + r.cfg.MaxClockOffset.Milliseconds()
	var newHeads []string
	ends := map[*crdt.Op]*opauth.Head{}
	dropped := map[string]bool{}
	now := time.Now()
	for _, u := range units {
		o := u.origin()
		if dropped[o] {
			continue
		}
		var ahead int64
		for _, op := range u.ops {
			ahead = max(ahead, crdt.HLCTime(op.HLC)-limit)
		}
		if ahead > 0 || (!released && len(r.held[o]) > 0) {
			// From the future (a broken clock or a hostile peer), or
			// behind such a unit: held, not applied.
			if ahead > 0 {
				if a := aheadBy(ahead+limit, wall); a > res.skew {
					res.skew, res.skewBy = a, u.peer
				}
			}
			res.gap = true
			if r.heldN+len(u.ops) > r.cfg.MaxHeld {
				// Past the bound: dropped with every later unit of the
				// origin (anti-entropy brings them again).
				r.stats.remoteDropped.Add(uint64(len(u.ops)))
				dropped[o] = true
				continue
			}
			r.held[o] = append(r.held[o], u)
			r.heldN += len(u.ops)
			continue
		}
		var got []*crdt.Op
		for _, op := range u.ops {
			r.clock.Observe(op.HLC)
			d, ops := r.state.Deliver(op)
			switch d {
			case crdt.Duplicate:
				r.stats.remoteDup.Add(1)
			case crdt.Buffered:
				r.stats.remoteBuffered.Add(1)
				res.gap = true
			case crdt.Dropped:
				r.stats.remoteDropped.Add(1)
				res.gap = true
			}
			got = append(got, ops...)
		}
		if n := len(got); n > 0 && u.head != nil && got[n-1].Seq == u.head.Seq {
			ends[got[n-1]] = u.head
		}
		if h := u.head; h != nil && r.state.VV[o] >= h.Seq && h.Seq > r.heads[o].Seq {
			r.heads[o] = *h
			if !slices.Contains(newHeads, o) {
				newHeads = append(newHeads, o)
			}
		}
		if res.scratch == nil {
			res.scratch = relayScratch.Get().(*[]item)
			res.relay = (*res.scratch)[:0]
		}
		res.relay = slices.Grow(res.relay, len(got))
		for i, op := range got {
			res.touched[op.Obj()] = true
			it := item{op: op, from: u.peer, at: now}
			if u.head != nil {
				if i == len(got)-1 {
					it.head = u.head
				} else {
					it.cont = true
				}
			}
			res.relay = append(res.relay, it)
		}
		res.ops = append(res.ops, got...)
		if len(got) > 0 && !slices.Contains(res.peers, u.peer) {
			res.peers = append(res.peers, u.peer)
		}
	}
	if len(res.ops) > 0 || len(newHeads) > 0 {
		b := r.st.NewBatch()
		r.persist(b, nil, res.ops, ends, newHeads...)
		seq, err := r.commit(b)
		if err != nil {
			return res, err
		}
		res.seq = seq
		for i := range res.relay {
			res.relay[i].seq = seq
		}
		r.logCount += len(res.ops)
		r.stats.remoteApplied.Add(uint64(len(res.ops)))
	}
	res.over = r.logCount > r.cfg.OpLogLimit
	res.vv = copyVV(r.state.VV)
	return res, nil
}

// relayScratch holds the arrays applyLocked builds relay items in; the
// relay queue copies them, so afterApply gives them back.
var relayScratch = sync.Pool{New: func() any { return new([]item) }}

// afterApply reports, prunes, relays and acknowledges what applyLocked
// did, outside the lock; ackTo, if set, is acknowledged even when nothing
// was applied.
func (r *Replica) afterApply(res applied, ackTo string) {
	if res.skew > 0 {
		r.log.Warn("held ops from the future: their timestamps are ahead of this node's clock by more than max_clock_offset",
			"peer", res.skewBy, "ahead", res.skew.Round(time.Millisecond), "max_clock_offset", r.cfg.MaxClockOffset)
		if f := r.cfg.OnClockSkew; f != nil {
			f(res.skewBy, res.skew)
		}
	}
	if f := r.cfg.OnRemoteApply; f != nil && len(res.ops) > 0 {
		f(res.ops)
	}
	if len(res.ops) > 0 {
		r.changed(res.touched)
	}
	if res.over {
		r.prune(false)
	}
	if len(res.relay) > 0 {
		// Relay what was new to the other peers; a full relay queue drops
		// the relay (anti-entropy covers it) rather than block the
		// receiver, and relays never hold back this node's own writes.
		if r.relays.len()+len(res.relay) <= r.cfg.QueueLimit {
			r.relays.push(res.relay) // copied
		} else {
			r.stats.relaysDropped.Add(uint64(len(res.relay)))
		}
	}
	if res.scratch != nil {
		clear(res.relay)
		*res.scratch = res.relay[:0]
		relayScratch.Put(res.scratch)
	}
	peers := res.peers
	if ackTo != "" && !slices.Contains(peers, ackTo) {
		peers = append(peers, ackTo)
	}
	for _, p := range peers {
		r.ackWhenDurable(p, res.seq, res.vv)
	}
}

// ackWhenDurable acknowledges vv to peer once store write seq is durable, so
// the sender never prunes an op this node could still lose. It waits on its
// own goroutine: the next batch need not wait for this one's fsync.
func (r *Replica) ackWhenDurable(peer string, seq uint64, vv map[string]uint64) {
	send := func() {
		if err := r.cfg.Transport.Send(peer, &Message{Kind: Ack, VV: vv}); err != nil {
			r.log.Debug("ack failed", "peer", peer, "err", err)
		}
	}
	if seq <= r.st.DurableSeq() {
		send()
		return
	}
	// A message being handled can get here while Close waits for the
	// goroutines: spawn only under spawnMu, and not once Close began.
	r.spawnMu.Lock()
	defer r.spawnMu.Unlock()
	if r.stopping {
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if r.st.WaitDurable(r.ctx, seq) == nil {
			send()
		}
	}()
}

// newOrigins counts the origins of ops this node has no vector entry for;
// r.mu must be held.
func (r *Replica) newOrigins(ops []*crdt.Op) int {
	var fresh map[string]bool
	for _, op := range ops {
		if _, ok := r.state.VV[op.Origin]; !ok && !fresh[op.Origin] {
			if fresh == nil {
				fresh = map[string]bool{}
			}
			fresh[op.Origin] = true
		}
	}
	return len(fresh)
}

// withinLimits applies the guest limits to a remote op: a peer cannot store
// what a guest could not write.
func (r *Replica) withinLimits(op *crdt.Op) error {
	if k := r.cfg.MaxKey; k > 0 && (len(op.Key) > k || len(op.Field) > k) {
		return fmt.Errorf("op %d@%s: key or field over %d bytes", op.Seq, op.Origin, k)
	}
	if v := r.cfg.MaxValue; v > 0 && len(op.Value) > v {
		return fmt.Errorf("op %d@%s: value of %d bytes over %d", op.Seq, op.Origin, len(op.Value), v)
	}
	return nil
}

// aheadBy is how far timestamp t (ms) is ahead of wall (ms), capped at the
// longest time.Duration: the maximum timestamp (2^48 ms) would overflow it.
func aheadBy(t, wall int64) time.Duration {
	const maxMs = int64(math.MaxInt64 / time.Millisecond)
	return time.Duration(min(t-wall, maxMs)) * time.Millisecond
}

// releaseHeld applies the held units whose time has come (every second),
// in order per origin.
func (r *Replica) releaseHeld() {
	limit := r.wallMs() + r.cfg.MaxClockOffset.Milliseconds()
	r.mu.Lock()
	if r.failed != nil || r.heldN == 0 || r.st.CheckWritable() != nil {
		r.mu.Unlock()
		return
	}
	origins := make([]string, 0, len(r.held))
	for o := range r.held {
		origins = append(origins, o)
	}
	slices.Sort(origins)
	var due []unit
	for _, o := range origins {
		hs := r.held[o]
		n := 0
		for n < len(hs) && unitDue(&hs[n], limit) {
			r.heldN -= len(hs[n].ops)
			n++
		}
		due = append(due, hs[:n]...)
		if n == len(hs) {
			delete(r.held, o)
		} else {
			r.held[o] = hs[n:]
		}
	}
	if len(due) == 0 {
		r.mu.Unlock()
		return
	}
	res, err := r.applyLocked(due, true)
	r.mu.Unlock()
	if err != nil {
		r.log.Warn("held ops not applied", "err", err)
		return
	}
	r.afterApply(res, "")
}

// unitDue reports whether every op of u is within limit (Unix ms).
func unitDue(u *unit, limit int64) bool {
	for _, op := range u.ops {
		if crdt.HLCTime(op.HLC) > limit {
			return false
		}
	}
	return true
}

// Held returns how many remote ops wait for their timestamps.
func (r *Replica) Held() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.heldN
}

func (r *Replica) wallMs() int64 {
	if r.cfg.Wall != nil {
		return r.cfg.Wall()
	}
	return time.Now().UnixMilli()
}

// Violation is a message a peer may not send; the link is closed.
type Violation struct {
	Peer, Kind, Detail string
}

func (v *Violation) Error() string {
	return fmt.Sprintf("replica: peer %s violated the protocol (%s): %s", v.Peer, v.Kind, v.Detail)
}

func (r *Replica) violation(peer, kind, format string, args ...any) error {
	if f := r.cfg.OnViolation; f != nil {
		f(peer, kind)
	}
	return &Violation{Peer: peer, Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

// changed reports touched objects to OnChanged.
func (r *Replica) changed(touched map[crdt.ObjKey]bool) {
	if r.cfg.OnChanged == nil || len(touched) == 0 {
		return
	}
	keys := make([]crdt.ObjKey, 0, len(touched))
	for k := range touched {
		keys = append(keys, k)
	}
	r.cfg.OnChanged(keys)
}

// pruneEvery is the least time between two prunes triggered by
// acknowledgements (one prune record per origin that moved).
const pruneEvery = 100 * time.Millisecond

// pruneAcked prunes after acknowledgements, at most every pruneEvery (a
// write or apply past the limit prunes at once, without waiting).
func (r *Replica) pruneAcked() {
	now := time.Now().UnixNano()
	last := r.lastPrune.Load()
	if now-last < int64(pruneEvery) || !r.lastPrune.CompareAndSwap(last, now) {
		return
	}
	r.prune(true)
}

// prune drops op-log entries every known peer has acknowledged, then the
// oldest entries beyond OpLogLimit (peers that still need those get a
// snapshot); with gc, it then runs a tombstone collection pass (a write
// past the log's limit prunes without: collection is left to the
// acknowledgements and its timer, not made the writer's cost).
func (r *Replica) prune(gc bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed != nil {
		return
	}
	known := map[string]bool{}
	for p := range r.peerVV {
		known[p] = true
	}
	if r.cfg.Transport != nil {
		for _, p := range r.cfg.Transport.Peers() {
			known[p] = true
		}
	}
	upTo := map[string]uint64{}
	for o, have := range r.state.VV {
		start := r.logStart[o]
		if start == 0 || start > have {
			continue
		}
		acked := have
		if len(known) == 0 {
			acked = 0 // nobody to serve yet: keep the log (up to its limit)
		}
		for p := range known {
			acked = min(acked, r.peerVV[p][o])
		}
		if acked >= start {
			upTo[o] = acked
		}
	}
	over := r.logCount - r.cfg.OpLogLimit
	if over > 0 {
		// Down to 90 % of the limit, so that a node writing steadily past
		// it prunes once per tenth of the limit, not on every write.
		over += r.cfg.OpLogLimit / 10
		// Beyond the limit: drop the oldest entries of the longest logs.
		type span struct {
			origin string
			n      uint64
		}
		var spans []span
		for o, have := range r.state.VV {
			start := max(r.logStart[o], upTo[o]+1)
			if start != 0 && start <= have {
				spans = append(spans, span{o, have - start + 1})
			}
		}
		slices.SortFunc(spans, func(a, b span) int { return int(b.n) - int(a.n) })
		for _, s := range spans {
			if over <= 0 {
				break
			}
			drop := min(uint64(over), s.n)
			from := max(r.logStart[s.origin], upTo[s.origin]+1)
			upTo[s.origin] = from + drop - 1
			over -= int(drop)
		}
	}
	if len(upTo) == 0 {
		if gc {
			r.collect()
		}
		return
	}
	b := r.st.NewBatch()
	removed := 0
	for o, to := range upTo {
		start := r.logStart[o]
		b.PruneLog(o, to)
		removed += int(to - start + 1)
	}
	if _, err := r.commit(b); err != nil {
		return
	}
	for o, to := range upTo {
		r.logStart[o] = to + 1
	}
	r.logCount -= removed
	if gc {
		r.collect()
	}
}

// noteClaim records, while recovering, how far peer says it holds this
// node's own ops.
func (r *Replica) noteClaim(peer string, vv map[string]uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.recovering {
		return
	}
	r.claims[peer] = vv[r.nodeID]
	r.checkRecovered()
}

// checkRecovered ends recovery once the peers that spoke hold nothing of
// this node's ops beyond what it holds now (what they held, it took back).
// r.mu must be held.
func (r *Replica) checkRecovered() {
	if !r.recovering || len(r.claims) == 0 {
		return
	}
	own := r.state.VV[r.nodeID]
	for _, c := range r.claims {
		if c > own {
			return
		}
	}
	if err := r.st.ClearLostWrites(); err != nil {
		r.log.Warn("recovery not recorded; it runs again at the next start", "err", err)
	}
	r.recovering = false
	close(r.recovered)
	r.log.Info("own ops recovered from peers: local writes resume", "seq", own, "peers", len(r.claims))
}

// WaitRecovered waits until no lost writes hold back local writes (at once
// for a datastore that lost none), or ctx ends.
func (r *Replica) WaitRecovered(ctx context.Context) {
	select {
	case <-r.recovered:
	case <-ctx.Done():
	}
}
