package replica

import (
	"fmt"
	"time"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/opauth"
	"github.com/numax/numax/internal/store"
)

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
	var heads map[string]*opauth.Head
	if r.cfg.Auth != nil {
		if err := r.learnCerts(peer, m.Certs); err != nil {
			return err
		}
		var err error
		if heads, err = r.checkSnapshotHeads(peer, m); err != nil {
			return err
		}
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
	if err := r.st.CheckWritable(); err != nil {
		r.mu.Unlock()
		r.log.Debug("snapshot not taken: datastore degraded", "peer", peer, "err", err)
		return nil
	}
	before := copyVV(r.state.VV)
	touched := map[crdt.ObjKey]bool{}
	// What the snapshot's sender held and has collected since (covered by
	// its vector, absent from its objects) goes here too, before the
	// merge, or the merge would bring it back. Every object is read for
	// it (a snapshot is rare; the sequences are unloaded again after the
	// commit, past the cache).
	r.state.LoadAll()
	for k, obj := range r.state.Objects {
		switch o := obj.(type) {
		case *crdt.ORSet:
			other, _ := snap.Objects[k].(*crdt.ORSet)
			if len(o.DropCollected(other, snap.VV)) > 0 {
				touched[k] = true
			}
		case *crdt.Text:
			other, _ := snap.Objects[k].(*crdt.Text)
			if o.DropCollected(other, snap.VV) {
				touched[k] = true
			}
		case *crdt.RGA:
			other, _ := snap.Objects[k].(*crdt.RGA)
			if o.DropCollected(other, snap.VV) {
				touched[k] = true
			}
		}
	}
	applied := r.state.Merge(snap)
	// The clock moves past what the snapshot holds, as past a remote op
	// (never past the clock guard's bound), and removals the snapshot
	// brought (their ops never applied here) wait for collection like the
	// others.
	limit := crdt.HLCAt(r.wallMs() + r.cfg.MaxClockOffset.Milliseconds())
	for k, obj := range snap.Objects {
		r.clock.Observe(min(crdt.MaxHLC(obj), limit))
		r.queueTombstones(k, obj, false)
	}
	b := r.st.NewBatch()
	for k := range snap.Objects {
		touched[k] = true
	}
	for _, op := range applied {
		touched[op.Obj()] = true
	}
	// The log has nothing of what the snapshot skipped: it now starts
	// after the snapshot's vector for every origin that jumped.
	removed := 0
	var newHeads []string
	for o, s := range snap.VV {
		if s > before[o] {
			if old := r.logStart[o]; old != 0 && old <= before[o] {
				removed += int(before[o] - old + 1)
			}
			b.PruneLog(o, s)
			r.logStart[o] = s + 1
			b.Set(store.Vector, vvKey(o), uvarint(r.state.VV[o]))
		}
		// The head proves the new entry (or anchors one this node could
		// not prove: a datastore written before ops were signed).
		if h := heads[o]; h != nil && r.state.VV[o] == h.Seq && h.Seq > r.heads[o].Seq {
			r.heads[o] = *h
			newHeads = append(newHeads, o)
		}
	}
	r.persist(b, touched, applied, nil, newHeads...)
	seq, err := r.commit(b)
	if err != nil {
		r.mu.Unlock()
		return err
	}
	r.logCount += len(applied) - removed
	vv := copyVV(r.state.VV)
	delete(r.pulled, peer)
	// Counted before the state it brought can be seen: a reader that
	// finds the nodes converged finds the snapshot counted too
	// (TestCluster_SnapshotPath read it a moment too early, about one
	// run in 200 under load).
	r.stats.snapshotsApplied.Add(1)
	r.mu.Unlock()
	r.log.Info("snapshot applied", "peer", peer, "objects", len(snap.Objects))
	r.changed(touched)
	r.ackWhenDurable(peer, seq, vv)
	return nil
}
