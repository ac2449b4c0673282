package replica

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/store"
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
		return r.handlePush(peer, m.Ops)
	case Ack:
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

func (r *Replica) handlePush(peer string, ops []*crdt.Op) error {
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
	start := time.Now()
	r.mu.Lock()
	if r.failed != nil {
		r.mu.Unlock()
		return r.failed
	}
	if known, fresh := len(r.state.VV), r.newOrigins(ops); known+fresh > r.cfg.MaxOrigins {
		r.mu.Unlock()
		return r.violation(peer, "too_many_origins", "%d new origins on top of %d known, limit %d", fresh, known, r.cfg.MaxOrigins)
	}
	// A node pushes only ops it has applied (contiguously per origin) and
	// made durable: the sender holds every op up to the highest of each
	// origin here, so relays of them to it can be skipped.
	holds := r.peerHolds(peer)
	var applied []*crdt.Op
	touched := map[crdt.ObjKey]bool{}
	gap := false
	wall := r.wallMs()
	limit := wall + r.cfg.MaxClockOffset.Milliseconds()
	var skew time.Duration
	for _, op := range ops {
		holds[op.Origin] = max(holds[op.Origin], op.Seq)
		if t := crdt.HLCTime(op.HLC); t > limit {
			// From the future (a broken clock or a hostile peer): held,
			// not applied, and the clock does not move.
			skew = max(skew, aheadBy(t, wall))
			r.hold(peer, op)
			gap = true
			continue
		}
		r.clock.Observe(op.HLC)
		d, ops := r.state.Deliver(op)
		switch d {
		case crdt.Duplicate:
			r.stats.remoteDup.Add(1)
		case crdt.Buffered:
			r.stats.remoteBuffered.Add(1)
			gap = true
		case crdt.Dropped:
			r.stats.remoteDropped.Add(1)
			gap = true
		}
		for _, a := range ops {
			touched[a.Obj()] = true
		}
		applied = append(applied, ops...)
	}
	var seq uint64
	if len(applied) > 0 {
		b := r.st.NewBatch()
		r.persist(b, touched, applied)
		var err error
		if seq, err = r.commit(b); err != nil {
			r.mu.Unlock()
			return err
		}
		r.logCount += len(applied)
		r.stats.remoteApplied.Add(uint64(len(applied)))
	}
	if gap {
		r.noteGap(peer)
	}
	over := r.logCount > r.cfg.OpLogLimit
	vv := copyVV(r.state.VV)
	r.mu.Unlock()
	if f := r.cfg.OnBatchApplied; f != nil {
		f(time.Since(start))
	}
	if skew > 0 {
		r.log.Warn("held ops from the future: their timestamps are ahead of this node's clock by more than max_clock_offset",
			"peer", peer, "ahead", skew.Round(time.Millisecond), "max_clock_offset", r.cfg.MaxClockOffset)
		if f := r.cfg.OnClockSkew; f != nil {
			f(peer, skew)
		}
	}
	if f := r.cfg.OnRemoteApply; f != nil {
		for _, op := range applied {
			f(op)
		}
	}
	if len(applied) > 0 {
		r.changed(touched)
	}
	if over {
		r.prune()
	}

	if len(applied) > 0 {
		// Relay what was new to the other peers; a full relay queue drops
		// the relay (anti-entropy covers it) rather than block the
		// receiver, and relays never hold back this node's own writes.
		if r.relays.len()+len(applied) <= r.cfg.QueueLimit {
			items := make([]item, len(applied))
			now := time.Now()
			for i, op := range applied {
				items[i] = item{op: op, seq: seq, from: peer, at: now}
			}
			r.relays.push(items)
		} else {
			r.stats.relaysDropped.Add(uint64(len(applied)))
		}
	}
	r.ackWhenDurable(peer, seq, vv)
	return nil
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

// serve answers a PullSince: every op the peer lacks from the op log, or a
// snapshot when the log no longer holds them.
func (r *Replica) serve(peer string, theirs map[string]uint64) error {
	r.mu.Lock()
	a := r.budget[peer]
	if a == nil {
		a = &allowance{tokens: float64(r.cfg.ServeRate), at: time.Now()}
		r.budget[peer] = a
	}
	ok := a.refill(float64(r.cfg.ServeRate))
	r.mu.Unlock()
	if !ok {
		r.stats.pullsLimited.Add(1)
		r.log.Debug("pull not answered: the peer's answer budget is spent", "peer", peer, "rate", r.cfg.ServeRate)
		return nil
	}
	sent := 0
	defer func() {
		r.mu.Lock()
		a.tokens -= float64(sent)
		r.mu.Unlock()
	}()
	// Local ops go out only once durable: make everything written so far
	// durable before reading the log.
	if err := r.st.WaitDurable(r.ctx, r.st.WrittenSeq()); err != nil {
		return nil
	}
	r.mu.Lock()
	type span struct {
		origin   string
		from, to uint64
	}
	var spans []span
	snapshot := false
	for o, have := range r.state.VV {
		their := theirs[o]
		if have <= their {
			continue
		}
		if start := r.logStart[o]; start == 0 || start > their+1 {
			snapshot = true
			break
		}
		spans = append(spans, span{o, their + 1, have})
	}
	if snapshot {
		msg := &Message{Kind: Snapshot, VV: copyVV(r.state.VV), Objects: map[crdt.ObjKey][]byte{}}
		for k, obj := range r.state.Objects {
			msg.Objects[k] = obj.AppendBinary(nil)
			sent += len(k.Key) + len(msg.Objects[k])
		}
		r.mu.Unlock()
		r.stats.snapshotsSent.Add(1)
		r.log.Info("sending snapshot: op log no longer holds what the peer lacks", "peer", peer, "objects", len(msg.Objects))
		return r.cfg.Transport.Send(peer, msg)
	}
	r.mu.Unlock()
	slices.SortFunc(spans, func(a, b span) int {
		if a.origin < b.origin {
			return -1
		}
		return 1
	})
	var batch []*crdt.Op
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := r.cfg.Transport.Send(peer, &Message{Kind: PushOps, Ops: batch})
		batch = nil
		return err
	}
	for _, s := range spans {
		rows, err := r.st.Scan(store.OpLog, store.ScanOptions{
			Prefix: []byte(s.origin), After: logKey(s.origin, s.from-1),
		})
		if err != nil {
			return fmt.Errorf("replica: read op log: %w", err)
		}
		for _, row := range rows {
			seq := binary.BigEndian.Uint64(row.Key[len(s.origin):])
			if seq > s.to {
				break
			}
			op, err := crdt.DecodeOp(row.Value)
			if err != nil {
				return &CorruptError{What: "op log", Key: row.Key, Err: err}
			}
			sent += len(row.Value)
			batch = append(batch, op)
			if len(batch) >= r.cfg.BatchSize {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	return flush()
}

// allowance is a peer's token bucket for pull answers, in bytes; it may go
// negative (an answer is charged after it is sent) and then refuses until
// refilled.
type allowance struct {
	tokens float64
	at     time.Time
}

// refill adds rate bytes per second since the last refill (capped at one
// second's worth) and reports whether an answer may go out.
func (a *allowance) refill(rate float64) bool {
	now := time.Now()
	a.tokens = min(a.tokens+now.Sub(a.at).Seconds()*rate, rate)
	a.at = now
	return a.tokens > 0
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

// heldOp is a remote op waiting for the wall clock to reach its timestamp.
type heldOp struct {
	peer string
	op   *crdt.Op
}

// hold keeps op until its time comes; r.mu must be held.
func (r *Replica) hold(peer string, op *crdt.Op) {
	if _, ok := r.held[op.ID()]; ok {
		return
	}
	if len(r.held) >= r.cfg.MaxHeld {
		r.stats.remoteDropped.Add(1)
		return // anti-entropy brings it again
	}
	r.held[op.ID()] = heldOp{peer: peer, op: op}
}

// releaseHeld delivers the held ops whose time has come (every second).
func (r *Replica) releaseHeld() {
	limit := r.wallMs() + r.cfg.MaxClockOffset.Milliseconds()
	byPeer := map[string][]*crdt.Op{}
	r.mu.Lock()
	for id, h := range r.held {
		if crdt.HLCTime(h.op.HLC) <= limit {
			byPeer[h.peer] = append(byPeer[h.peer], h.op)
			delete(r.held, id)
		}
	}
	r.mu.Unlock()
	for peer, ops := range byPeer {
		slices.SortFunc(ops, func(a, b *crdt.Op) int {
			if c := strings.Compare(a.Origin, b.Origin); c != 0 {
				return c
			}
			return cmp.Compare(a.Seq, b.Seq)
		})
		if err := r.handlePush(peer, ops); err != nil {
			r.log.Warn("held ops not applied", "peer", peer, "err", err)
		}
	}
}

// Held returns how many remote ops wait for their timestamps.
func (r *Replica) Held() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.held)
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

// snapshotWindow is how long after a PullSince a snapshot from that peer
// is accepted as its answer.
const snapshotWindow = 2 * time.Minute

func (r *Replica) handleSnapshot(peer string, m *Message) error {
	r.mu.Lock()
	asked, ok := r.pulled[peer]
	own, mine := m.VV[r.nodeID], r.state.VV[r.nodeID]
	r.mu.Unlock()
	if !ok || time.Since(asked) > snapshotWindow {
		return r.violation(peer, "unsolicited_snapshot", "a snapshot this node did not ask for")
	}
	if own > mine {
		return r.violation(peer, "own_origin_claim", "snapshot claims %d ops of this node, which has made %d", own, mine)
	}
	r.mu.Lock()
	fresh := 0
	for o := range m.VV {
		if _, ok := r.state.VV[o]; !ok {
			fresh++
		}
	}
	known := len(r.state.VV)
	r.mu.Unlock()
	for o := range m.VV {
		if f := r.cfg.AllowedOrigin; f != nil && !f(o) {
			return r.violation(peer, "origin_not_allowed", "snapshot vector names %s, which is not in allowed_peers", o)
		}
	}
	if known+fresh > r.cfg.MaxOrigins {
		return r.violation(peer, "too_many_origins", "snapshot adds %d origins to %d known, limit %d", fresh, known, r.cfg.MaxOrigins)
	}
	snap := crdt.NewState()
	for k, enc := range m.Objects {
		obj, err := crdt.Decode(k.Type, enc)
		if err != nil {
			return fmt.Errorf("replica: snapshot from %s: %s %q: %w", peer, k.Type, k.Key, err)
		}
		snap.Objects[k] = obj
	}
	for o, s := range m.VV {
		snap.VV[o] = s
	}
	r.mu.Lock()
	if r.failed != nil {
		r.mu.Unlock()
		return r.failed
	}
	before := copyVV(r.state.VV)
	applied := r.state.Merge(snap)
	b := r.st.NewBatch()
	touched := map[crdt.ObjKey]bool{}
	for k := range snap.Objects {
		touched[k] = true
	}
	for _, op := range applied {
		touched[op.Obj()] = true
	}
	// The log has nothing of what the snapshot skipped: it now starts
	// after the snapshot's vector for every origin that jumped.
	removed := 0
	for o, s := range snap.VV {
		if s > before[o] {
			if old := r.logStart[o]; old != 0 && old <= before[o] {
				removed += int(before[o] - old + 1)
			}
			b.DeleteRange(store.OpLog, logKey(o, 0), logKey(o, s+1))
			r.logStart[o] = s + 1
			b.Set(store.Vector, startKey(o), uvarint(s+1))
			b.Set(store.Vector, vvKey(o), uvarint(r.state.VV[o]))
		}
	}
	r.persist(b, touched, applied)
	seq, err := r.commit(b)
	if err != nil {
		r.mu.Unlock()
		return err
	}
	r.logCount += len(applied) - removed
	vv := copyVV(r.state.VV)
	r.mu.Unlock()
	r.stats.snapshotsApplied.Add(1)
	r.mu.Lock()
	delete(r.pulled, peer)
	r.mu.Unlock()
	r.log.Info("snapshot applied", "peer", peer, "objects", len(snap.Objects))
	r.changed(touched)
	r.ackWhenDurable(peer, seq, vv)
	return nil
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
// acknowledgements (one DeleteRange batch per origin that moved).
const pruneEvery = 100 * time.Millisecond

// pruneAcked prunes after acknowledgements, at most every pruneEvery (a
// write or apply past the limit prunes at once, without waiting).
func (r *Replica) pruneAcked() {
	now := time.Now().UnixNano()
	last := r.lastPrune.Load()
	if now-last < int64(pruneEvery) || !r.lastPrune.CompareAndSwap(last, now) {
		return
	}
	r.prune()
}

// prune drops op-log entries every known peer has acknowledged, then the
// oldest entries beyond OpLogLimit (peers that still need those get a
// snapshot).
func (r *Replica) prune() {
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
		return
	}
	b := r.st.NewBatch()
	removed := 0
	for o, to := range upTo {
		start := r.logStart[o]
		b.DeleteRange(store.OpLog, logKey(o, 0), logKey(o, to+1))
		b.Set(store.Vector, startKey(o), uvarint(to+1))
		// The deleted entries may include the origin's last: its vector
		// entry now has to say how far it is applied.
		b.Set(store.Vector, vvKey(o), uvarint(r.state.VV[o]))
		removed += int(to - start + 1)
	}
	if _, err := r.commit(b); err != nil {
		return
	}
	for o, to := range upTo {
		r.logStart[o] = to + 1
	}
	r.logCount -= removed
}
