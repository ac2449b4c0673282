package replica

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/opauth"
	"github.com/numax/numax/internal/store"
)

// Auth makes this node's ops provable to every node and checks every
// remote op against its origin's key before anything of it is applied,
// stored or relayed (package opauth; docs/wire-protocol.md, "Authenticity
// of ops"). A Config without one (no TLS) signs and checks nothing.
type Auth struct {
	// Signer signs this node's heads with its certificate's key.
	Signer *opauth.Signer
	// Keyring holds and vets the origins' certificates, this node's own
	// among them.
	Keyring *opauth.Keyring
	// SignEvery is the least time between two heads this node signs for
	// its own pushes (default 5 ms), and grows with the links: 2.5 ms per
	// linked peer, so that what every node spends verifying its peers'
	// heads stays near 400 a second however large the cluster (about 3 %
	// of a core). A push sooner goes without a head, and one follows at
	// most that much later; an idle node's first write is signed at once.
	SignEvery time.Duration
}

// signEveryPerPeer is what each linked peer adds to the signing interval.
const signEveryPerPeer = 2500 * time.Microsecond

// signEvery is the signing interval with peers linked.
func (a *Auth) signEvery(peers int) time.Duration {
	return max(a.SignEvery, time.Duration(peers)*signEveryPerPeer)
}

// DefaultSignEvery is Auth.SignEvery's default.
const DefaultSignEvery = 5 * time.Millisecond

// maxHeadsWaiting bounds, per peer and origin, the heads kept while the ops
// they cover have not all arrived.
const maxHeadsWaiting = 16

// unproven is one peer's ops of one origin that no head has proved yet:
// the ops arriving in order (the usual case: a link delivers in order) in
// run, consecutive, and any others in stray.
type unproven struct {
	run   []*crdt.Op // run[i].Seq == run[0].Seq + i
	stray map[uint64]*crdt.Op
	heads []*opauth.Head // ascending seq
}

func (u *unproven) len() int { return len(u.run) + len(u.stray) }

// get returns op seq, or nil.
func (u *unproven) get(seq uint64) *crdt.Op {
	if n := len(u.run); n > 0 && seq >= u.run[0].Seq && seq <= u.run[n-1].Seq {
		return u.run[seq-u.run[0].Seq]
	}
	return u.stray[seq]
}

// add keeps op unless it is held already; it reports whether it kept it.
func (u *unproven) add(op *crdt.Op) bool {
	if u.get(op.Seq) != nil {
		return false
	}
	if n := len(u.run); n == 0 || op.Seq == u.run[n-1].Seq+1 {
		u.run = append(u.run, op)
		u.absorb()
		return true
	}
	if u.stray == nil {
		u.stray = map[uint64]*crdt.Op{}
	}
	u.stray[op.Seq] = op
	return true
}

// absorb moves stray ops that now follow the run onto it.
func (u *unproven) absorb() {
	for len(u.stray) > 0 && len(u.run) > 0 {
		next := u.run[len(u.run)-1].Seq + 1
		op, ok := u.stray[next]
		if !ok {
			return
		}
		delete(u.stray, next)
		u.run = append(u.run, op)
	}
}

// trim forgets ops at or below f and returns how many it forgot.
func (u *unproven) trim(f uint64) int {
	n := 0
	if len(u.run) > 0 && u.run[0].Seq <= f {
		k := min(uint64(len(u.run)), f-u.run[0].Seq+1)
		u.run = u.run[k:]
		n += int(k)
	}
	for s := range u.stray {
		if s <= f {
			delete(u.stray, s)
			n++
		}
	}
	if len(u.run) == 0 {
		if op, ok := u.stray[f+1]; ok {
			delete(u.stray, f+1)
			u.run = append(u.run[:0:0], op)
			u.absorb()
		}
	}
	return n
}

// span returns ops from..to if all are held: a slice of the run when it
// covers them (no copy), nil otherwise.
func (u *unproven) span(from, to uint64) []*crdt.Op {
	if n := len(u.run); n > 0 && from >= u.run[0].Seq && to <= u.run[n-1].Seq {
		return u.run[from-u.run[0].Seq : to-u.run[0].Seq+1 : to-u.run[0].Seq+1]
	}
	ops := make([]*crdt.Op, 0, to-from+1)
	for s := from; s <= to; s++ {
		op := u.get(s)
		if op == nil {
			return nil
		}
		ops = append(ops, op)
	}
	return ops
}

// unit is a run of consecutive ops of one origin, proved by head (nil
// without Auth), as it came from peer.
type unit struct {
	peer string
	ops  []*crdt.Op
	head *opauth.Head
}

func (u *unit) origin() string { return u.ops[0].Origin }

// maxUnproven bounds the ops waiting for their proof, in all.
func (r *Replica) maxUnproven() int { return 4 * r.cfg.MaxPending }

// frontier is where origin's proofs stand: the head of the last unit
// proved by the message being handled, else of the last proved unit held
// for its time, else of the last applied one, else the
// origin's genesis. r.mu must be held.
func (r *Replica) frontier(origin string) opauth.Head {
	if h, ok := r.proving[origin]; ok {
		return h
	}
	if hs := r.held[origin]; len(hs) > 0 && hs[len(hs)-1].head != nil {
		return *hs[len(hs)-1].head
	}
	if h, ok := r.heads[origin]; ok {
		return h
	}
	return opauth.Head{Origin: origin, Chain: opauth.Genesis(origin)}
}

// learnCerts adds the certificates a message carries to the keyring (and
// the store, so that this node can pass them on after a restart).
func (r *Replica) learnCerts(peer string, certs [][]byte) error {
	for _, der := range certs {
		id, fresh, err := r.cfg.Auth.Keyring.Add(der)
		if err != nil {
			return r.violation(peer, "bad_certificate", "%v", err)
		}
		if fresh {
			if _, err := r.st.Set(store.Meta, certKey(id), der); err != nil {
				r.log.Warn("origin certificate not stored", "origin", id, "err", err)
			}
		}
	}
	return nil
}

// prove files peer's ops and heads under their origins and returns the
// units that are now proved, in order per origin: a run from the origin's
// frontier to a head of the same peer that the run hashes to, with a valid
// signature. Ops at or below the frontier are duplicates. Ops a head has
// not covered yet wait (bounded; gap is set when some could not). An op
// that does not hash to the head sent with it, or a head that does not
// verify, is a violation. r.mu must be held.
func (r *Replica) prove(peer string, ops []*crdt.Op, heads []*opauth.Head) (units []unit, gap bool, err error) {
	var origins []string
	byPeer := r.unproven[peer]
	if byPeer == nil {
		byPeer = map[string]*unproven{}
		r.unproven[peer] = byPeer
	}
	get := func(o string) *unproven {
		u := byPeer[o]
		if u == nil {
			u = &unproven{}
			byPeer[o] = u
			origins = append(origins, o)
		} else if !slices.Contains(origins, o) {
			origins = append(origins, o)
		}
		return u
	}
	for _, op := range ops {
		f := r.frontier(op.Origin)
		if op.Seq <= f.Seq {
			r.stats.remoteDup.Add(1)
			continue
		}
		u := get(op.Origin)
		if u.get(op.Seq) != nil {
			continue
		}
		if r.unprovenN >= r.maxUnproven() {
			r.stats.remoteDropped.Add(1)
			gap = true
			continue
		}
		u.add(op)
		r.unprovenN++
	}
	for _, h := range heads {
		if h.Seq <= r.frontier(h.Origin).Seq {
			continue
		}
		u := get(h.Origin)
		i, found := slices.BinarySearchFunc(u.heads, h.Seq, func(x *opauth.Head, s uint64) int { return cmp.Compare(x.Seq, s) })
		if !found {
			u.heads = slices.Insert(u.heads, i, h)
			if len(u.heads) > maxHeadsWaiting {
				u.heads = u.heads[1:]
			}
		}
	}
	slices.Sort(origins)
	// proving moves each origin's frontier as its units are proved; the
	// units are applied or held before the lock is released.
	defer clear(r.proving)
	for _, o := range origins {
		got, err := r.proveOrigin(peer, o)
		if err != nil {
			return nil, false, err
		}
		units = append(units, got...)
		if u := byPeer[o]; u != nil && u.len() > 0 {
			// (Not counted as received yet: they are once applied or
			// found duplicate.) Ops that follow on from what is proved wait for the head
			// the same peer sends after them; only a hole is a gap.
			if u.get(r.frontier(o).Seq+1) == nil {
				gap = true
			}
		}
	}
	return units, gap, nil
}

// proveOrigin proves what it can of origin: peer's run first, then other
// peers' runs that the new frontier made provable. r.mu must be held.
func (r *Replica) proveOrigin(peer, origin string) ([]unit, error) {
	var units []unit
	u, err := r.proveRun(peer, origin)
	if err != nil || u == nil {
		return nil, err
	}
	units = append(units, *u)
	for progress := true; progress; {
		progress = false
		for p, byOrigin := range r.unproven {
			if byOrigin[origin] == nil || p == peer {
				continue
			}
			u, err := r.proveRun(p, origin)
			if err != nil {
				// Another peer's run that does not verify: its link is
				// not the one being handled; drop what it sent.
				r.log.Warn("ops that do not verify dropped", "peer", p, "origin", origin, "err", err)
				r.dropUnproven(p, origin)
				continue
			}
			if u != nil {
				units = append(units, *u)
				progress = true
			}
		}
	}
	return units, nil
}

// proveRun proves peer's longest waiting run of origin that a waiting
// head covers, if any. r.mu must be held.
func (r *Replica) proveRun(peer, origin string) (*unit, error) {
	u := r.unproven[peer][origin]
	if u == nil {
		return nil, nil
	}
	f := r.frontier(origin)
	r.unprovenN -= u.trim(f.Seq)
	for len(u.heads) > 0 && u.heads[0].Seq <= f.Seq {
		u.heads = u.heads[1:]
	}
	defer func() {
		if u.len() == 0 && len(u.heads) == 0 {
			delete(r.unproven[peer], origin)
		}
	}()
	for i := len(u.heads) - 1; i >= 0; i-- {
		h := u.heads[i]
		run := u.span(f.Seq+1, h.Seq)
		if run == nil {
			continue
		}
		if r.chainer.Run(f.Chain, run) != h.Chain {
			if origin == r.nodeID {
				// Ops of this node's own origin that differ from its own:
				// this datastore lost writes a peer holds and has since
				// reused their numbers. Not the peer's fault.
				r.log.Error("a peer holds ops of this node that differ from its own: the datastore lost acknowledged writes",
					"peer", peer, "from", f.Seq+1, "to", h.Seq)
				r.dropUnproven(peer, origin)
				return nil, nil
			}
			return nil, r.violation(peer, "unproven_op", "ops %d..%d@%s do not hash to the head sent with them: %v",
				f.Seq+1, h.Seq, origin, opauth.ErrChainMismatch)
		}
		if err := r.cfg.Auth.Keyring.Verify(h); err != nil {
			kind := "bad_signature"
			if errors.Is(err, opauth.ErrUnknownOrigin) {
				kind = "unknown_origin"
			}
			return nil, r.violation(peer, kind, "ops %d..%d@%s: %v", f.Seq+1, h.Seq, origin, err)
		}
		r.stats.headsVerified.Add(1)
		r.proving[origin] = *h
		r.unprovenN -= u.trim(h.Seq)
		u.heads = u.heads[i+1:]
		return &unit{peer: peer, ops: run, head: h}, nil
	}
	return nil, nil
}

// dropUnproven forgets what peer sent of origin that is not proved (all
// origins for ""). r.mu must be held.
func (r *Replica) dropUnproven(peer, origin string) {
	for o, u := range r.unproven[peer] {
		if origin == "" || o == origin {
			r.unprovenN -= u.len()
			delete(r.unproven[peer], o)
		}
	}
	if origin == "" {
		delete(r.unproven, peer)
	}
}

// provable is how far this node can prove origin's ops to others: its
// vector entry, unless the datastore was written before ops were signed
// and no head has covered that far yet. r.mu must be held.
func (r *Replica) provable(origin string) uint64 {
	if r.cfg.Auth == nil {
		return r.state.VV[origin]
	}
	return min(r.state.VV[origin], r.heads[origin].Seq)
}

// headFor returns the head that proves origin's ops up to provable(origin),
// signing one of this node's own when the last signed one is older. r.mu
// must be held.
func (r *Replica) headFor(origin string) (*opauth.Head, error) {
	h := r.heads[origin]
	if h.Seq == 0 {
		return nil, nil
	}
	if origin != r.nodeID {
		return &h, nil
	}
	if r.ownSigned.Seq == h.Seq {
		s := r.ownSigned
		return &s, nil
	}
	h.Sig = nil
	if err := r.cfg.Auth.Signer.Sign(&h); err != nil {
		return nil, err
	}
	r.stats.headsSigned.Add(1)
	r.ownSigned = h
	return &h, nil
}

// certsFor returns the certificates of the heads' origins that peer's link
// has not carried yet, and notes them as carried. r.mu must be held.
func (r *Replica) certsFor(peer string, heads []*opauth.Head) [][]byte {
	if r.cfg.Auth == nil || len(heads) == 0 {
		return nil
	}
	sent := r.certsSent[peer]
	if sent == nil {
		sent = map[string]bool{}
		r.certsSent[peer] = sent
	}
	var certs [][]byte
	for _, h := range heads {
		if sent[h.Origin] {
			continue
		}
		if der := r.cfg.Auth.Keyring.Cert(h.Origin); der != nil {
			certs = append(certs, der)
			sent[h.Origin] = true
		}
	}
	return certs
}

// linkReset forgets what peer's link carried and what it sent unproved (a
// new link starts afresh).
func (r *Replica) linkReset(peer string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.certsSent, peer)
	r.linkEpoch[peer]++ // pushes queued for the old link are dropped
	r.tree.forget(peer) // a new link starts eager
	r.dropUnproven(peer, "")
}

// checkSnapshotHeads verifies that every entry of a snapshot's vector is
// proved by a head of its origin at exactly that seq, and returns the
// heads by origin.
func (r *Replica) checkSnapshotHeads(peer string, m *Message) (map[string]*opauth.Head, error) {
	byOrigin := make(map[string]*opauth.Head, len(m.Heads))
	for _, h := range m.Heads {
		byOrigin[h.Origin] = h
	}
	for o, s := range m.VV {
		if s == 0 {
			continue
		}
		h := byOrigin[o]
		if h == nil || h.Seq != s {
			return nil, r.violation(peer, "unproven_snapshot", "snapshot claims %d ops of %s without that origin's head at %d", s, o, s)
		}
		if err := r.cfg.Auth.Keyring.Verify(h); err != nil {
			kind := "bad_signature"
			if errors.Is(err, opauth.ErrUnknownOrigin) {
				kind = "unknown_origin"
			}
			return nil, r.violation(peer, kind, "snapshot entry %d@%s: %v", s, o, err)
		}
		r.stats.headsVerified.Add(1)
	}
	return byOrigin, nil
}

// loadAuth reads the stored heads and certificates. Called from hydrate.
func (r *Replica) loadAuth() error {
	rows, err := r.st.Scan(store.Vector, store.ScanOptions{Prefix: []byte{'h'}})
	if err != nil {
		return err
	}
	for _, row := range rows {
		origin := string(row.Key[1:])
		h, err := opauth.DecodeHead(origin, row.Value)
		if err != nil {
			return &CorruptError{What: "head", Key: row.Key, Err: err}
		}
		r.heads[origin] = *h
	}
	if r.cfg.Auth == nil {
		return nil
	}
	if own := r.state.VV[r.nodeID]; r.heads[r.nodeID].Seq != own {
		// Ops made before this datastore signed them: the chain starts
		// again at the current seq from a value derived from it. Peers
		// learn it from this node's signed head (a snapshot anchors it);
		// what came before stays as applied everywhere.
		r.log.Warn("own ops from before signing: the hash chain starts at the current seq", "seq", own)
		root := opauth.Genesis(fmt.Sprintf("%s/%d", r.nodeID, own))
		r.heads[r.nodeID] = opauth.Head{Origin: r.nodeID, Seq: own, Chain: root}
	}
	rows, err = r.st.Scan(store.Meta, store.ScanOptions{Prefix: []byte(certPrefix)})
	if err != nil {
		return err
	}
	for _, row := range rows {
		if _, _, err := r.cfg.Auth.Keyring.Add(row.Value); err != nil {
			r.log.Warn("stored origin certificate no longer accepted", "key", string(row.Key), "err", err)
		}
	}
	return nil
}

// String names a unit for logs.
func (u *unit) String() string {
	return fmt.Sprintf("%d..%d@%s", u.ops[0].Seq, u.ops[len(u.ops)-1].Seq, u.origin())
}
