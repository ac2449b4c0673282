package replica

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/numax/numax/internal/abi"
	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/opauth"
	"github.com/numax/numax/internal/store"
)

// Stats are counters for metrics and tests.
type Stats struct {
	LocalOps, RemoteApplied, RemoteDuplicates, RemoteBuffered, RemoteDropped uint64
	RelaysDropped, BatchesSent, OpsSent, SnapshotsSent, SnapshotsApplied     uint64
	// GapPulls counts pulls made because a gap stayed open GapPullDelay.
	GapPulls uint64
	// PushesDropped counts pushes not queued because their peer's push
	// queue was full (a peer not reading): it pulls what it missed.
	PushesDropped uint64
	// HeadsSigned and HeadsVerified count this node's signatures over its
	// own ops and its checks of others' (with Auth).
	HeadsSigned, HeadsVerified uint64
	// PullsLimited counts pulls not answered because the peer's answer
	// budget (ServeRate) was spent.
	PullsLimited uint64
	// TreePrunes and TreeGrafts count the origins this node asked peers
	// to stop and to start again relaying to it; TreeHaves the
	// announcements it sent to lazy peers (the relay tree, tree.go).
	TreePrunes, TreeGrafts, TreeHaves uint64
	// SeqLoads and SeqUnloads count the RGAs and Texts read whole into
	// memory and unloaded past the cache (seqcache.go).
	SeqLoads, SeqUnloads uint64
	// ViewWrites counts the local ops written through a sequence's view,
	// without the sequence in memory (views.go).
	ViewWrites   uint64
	OpLogEntries int
}

// Replica is a node's replicated state.
type Replica struct {
	cfg    Config
	log    *slog.Logger
	st     *store.Store
	nodeID string

	// mu guards state, clock, logStart, logCount, hlcStored, peerVV,
	// peerLinks, failed, gaps, held, pulled and budget: every change to them and the store batch
	// that records it happen under mu, so memory and disk change together.
	mu       sync.Mutex
	state    *crdt.State
	clock    crdt.Clock
	logStart map[string]uint64 // lowest seq of origin still in the op log
	logCount int
	// hlcStored is the clock bound in the store (see persist).
	hlcStored uint64
	peerVV    map[string]map[string]uint64 // what each known peer has acknowledged
	// peerLinks maps a connected peer to the NodeIds it said it is linked
	// to (each set is replaced whole, never changed in place): relays skip
	// ops whose origin pushes them to that peer itself.
	peerLinks map[string]map[string]bool
	// linksKick wakes linksLoop to tell the peers this node's links.
	linksKick chan struct{}
	failed    error // a store failure: the replica refuses everything after
	// gaps maps a peer whose push left a gap open here to when to ask it
	// for what this node lacks (GapPullDelay later); gapKick wakes gapLoop.
	gaps    map[string]gap
	gapKick chan struct{}

	q      *queue // this node's own ops, to every connected peer
	relays *queue // ops learned from peers, to the relay tree's eager peers after RelayDelay
	// tree is the relay tree (tree.go; guarded by mu).
	tree tree

	stats struct {
		localOps, remoteApplied, remoteDup, remoteBuffered, remoteDropped atomic.Uint64
		relaysDropped, batches, opsSent, snapshotsSent, snapshotsApplied  atomic.Uint64
		gapPulls, pullsLimited, headsSigned, headsVerified, pushesDropped atomic.Uint64
		treePrunes, treeGrafts, treeHaves, seqLoads, seqUnloads           atomic.Uint64
		viewWrites                                                        atomic.Uint64
	}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool
	// lastPrune is when the last acknowledgement-triggered prune ran
	// (UnixNano).
	lastPrune atomic.Int64
	// held are remote units (runs of an origin's ops) with a timestamp too
	// far ahead, in order per origin, and later units of those origins;
	// heldN counts their ops (guarded by mu). pulled is when this node
	// last asked each peer for what it lacks (a snapshot is accepted only
	// in answer; guarded by mu).
	held   map[string][]unit
	heldN  int
	pulled map[string]time.Time
	// Authenticity (auth.go; guarded by mu): heads are the origins' heads
	// at their applied seqs (this node's own unsigned, updated with every
	// write; ownSigned is the last it signed); unproven are ops peers sent
	// that no head has proved yet (unprovenN in all); certsSent, per peer,
	// the origins whose certificates its link has carried.
	heads     map[string]opauth.Head
	ownSigned opauth.Head
	unproven  map[string]map[string]*unproven
	unprovenN int
	certsSent map[string]map[string]bool
	proving   map[string]opauth.Head
	chainer   opauth.Chainer
	// recovering is set while the datastore has lost acknowledged writes
	// and peers may hold this node's ops beyond its own vector: local
	// writes wait. claims are what each peer said it holds of them
	// (guarded by mu).
	recovering bool
	claims     map[string]uint64
	// recovered is closed when recovery ends (at Open when there is none).
	recovered chan struct{}
	// budget is each peer's allowance for pull answers (guarded by mu).
	budget map[string]*allowance
	// gc is tombstone collection's state (gc.go; guarded by mu).
	gc gcState
	// cache counts the memory of resident map and set elements (guarded by
	// mu; objects.go).
	cache *crdt.Cache
	// seqs tracks the RGAs and Texts in memory (seqcache.go; guarded by
	// mu).
	seqs *seqCache
	// views are the views of large sequences read or written through
	// (views.go; guarded by mu).
	views viewSet
	// spawnMu orders goroutines started while handling messages (acks
	// waiting for an fsync) with Close: none starts once stopping is set.
	spawnMu  sync.Mutex
	stopping bool

	// senders are the per-peer push goroutines (peersend.go), made under
	// spawnMu; linkEpoch (under mu) counts each peer's link resets, and
	// inflight the pushes queued and not yet sent.
	senders   map[string]*peerSender
	linkEpoch map[string]uint64
	inflight  atomic.Int64
}

// Open loads (or creates) the node identity, rebuilds the state from the
// store and starts the outbound sender and the anti-entropy ticker.
func Open(cfg Config) (*Replica, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	r := &Replica{
		cfg: cfg, log: cfg.Logger, st: cfg.Store,
		state: crdt.NewState(), logStart: map[string]uint64{}, peerVV: map[string]map[string]uint64{},
		q: newQueue(), relays: newQueue(), gaps: map[string]gap{}, gapKick: make(chan struct{}, 1),
		peerLinks: map[string]map[string]bool{}, linksKick: make(chan struct{}, 1),
	}
	r.state.MaxPending = cfg.MaxPending
	r.cache = &crdt.Cache{}
	r.state.NewObject = r.newObject
	r.state.Unloaded, r.state.Load, r.state.OnLoad = map[crdt.ObjKey]bool{}, r.loadSeq, r.seqLoaded
	r.seqs = newSeqCache()
	r.views = newViewSet()
	r.held = map[string][]unit{}
	r.heads = map[string]opauth.Head{}
	r.unproven = map[string]map[string]*unproven{}
	r.certsSent = map[string]map[string]bool{}
	r.senders, r.linkEpoch = map[string]*peerSender{}, map[string]uint64{}
	r.proving = map[string]opauth.Head{}
	r.claims = map[string]uint64{}
	r.recovering = cfg.Store.LostWrites() != "" && cfg.Transport != nil
	r.recovered = make(chan struct{})
	if !r.recovering {
		close(r.recovered)
	}
	r.pulled = map[string]time.Time{}
	r.budget = map[string]*allowance{}
	r.gc = newGCState()
	r.tree = newTree()
	r.clock.Wall = cfg.Wall
	if err := r.identity(); err != nil {
		return nil, err
	}
	if err := r.hydrate(); err != nil {
		return nil, err
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if cfg.Transport != nil {
		r.wg.Add(1)
		go r.sendLoop()
		r.wg.Add(1)
		go r.relayLoop()
		r.wg.Add(1)
		go r.gapLoop()
		r.wg.Add(1)
		go r.linksLoop()
		r.wg.Add(1)
		go r.haveLoop()
		r.wg.Add(1)
		go r.every(time.Second, r.releaseHeld)
		r.wg.Add(1)
		go r.every(gcEpochEvery, r.collectNow)
		if cfg.RandomPullInterval > 0 {
			r.wg.Add(1)
			go r.every(cfg.RandomPullInterval, r.pullRandom)
		}
		if cfg.AntiEntropyInterval > 0 {
			r.wg.Add(1)
			go r.every(cfg.AntiEntropyInterval, r.AntiEntropy)
		}
	}
	return r, nil
}

// NewNodeID returns a random NodeId (32 lowercase hex characters).
func NewNodeID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

func (r *Replica) identity() error {
	id, err := Identity(r.st, r.cfg.NodeID, r.cfg.AdoptIdentity, r.log)
	r.nodeID = id
	return err
}

// Identity returns the node's NodeId, storing it in st on first use:
// configured (from a TLS certificate) if set, else the stored one, else a
// new random one. A datastore written under another NodeId is refused with
// an *IdentityError unless adopt is set.
func Identity(st *store.Store, configured string, adopt bool, log *slog.Logger) (string, error) {
	stored, err := st.Get(store.Meta, metaNodeID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		stored = nil
	case err != nil:
		return "", fmt.Errorf("read node id: %w", err)
	case !abi.ValidNodeID(stored):
		return "", &CorruptError{What: "node id", Key: metaNodeID, Err: fmt.Errorf("%q is not a NodeId", stored)}
	}
	id := configured
	switch {
	case id == "" && stored != nil:
		id = string(stored)
	case id == "":
		id = NewNodeID()
	case !abi.ValidNodeID(id):
		return "", fmt.Errorf("replica: %q is not a NodeId (32 lowercase hex characters)", id)
	case stored != nil && string(stored) != id && !adopt:
		return "", &IdentityError{Stored: string(stored), Current: id}
	}
	if string(stored) != id {
		if _, err := st.Set(store.Meta, metaNodeID, []byte(id)); err != nil {
			return "", fmt.Errorf("store node id: %w", err)
		}
		if stored != nil && log != nil {
			log.Warn("datastore adopted by a new identity", "previous", string(stored), "node", id)
		}
	}
	return id, nil
}

func (r *Replica) hydrate() error {
	if h, err := r.st.Get(store.Meta, metaHLC); err == nil {
		v, n := binary.Uvarint(h)
		if n <= 0 {
			return &CorruptError{What: "clock", Key: metaHLC, Err: errors.New("bad varint")}
		}
		r.clock.Restore(v)
		r.hlcStored = v
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	migrated, err := checkFormat(r.st)
	if err != nil {
		return err
	}
	if migrated > 0 {
		r.log.Info("datastore migrated", "records", migrated, "format", CRDTFormat)
	}
	vv, err := readVV(r.st)
	if err != nil {
		return err
	}
	r.state.VV, r.logStart, r.logCount = vv.applied, vv.logStart, vv.logCount
	if err := r.loadAuth(); err != nil {
		return err
	}
	if err := r.hydrateObjects(); err != nil {
		return err
	}
	if err := r.loadMembers(); err != nil {
		return err
	}
	r.log.Debug("replica hydrated", "node", r.nodeID, "objects", len(r.state.Objects),
		"origins", len(r.state.VV), "op_log", r.logCount)
	return nil
}

// NodeID returns the node's identity.
func (r *Replica) NodeID() string { return r.nodeID }

// Peers returns the transport's connected peers, sorted.
func (r *Replica) Peers() []string {
	if r.cfg.Transport == nil {
		return nil
	}
	p := r.cfg.Transport.Peers()
	sort.Strings(p)
	return p
}

// VV returns a copy of the version vector.
func (r *Replica) VV() map[string]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return copyVV(r.state.VV)
}

func copyVV(v map[string]uint64) map[string]uint64 {
	c := make(map[string]uint64, len(v))
	for k, s := range v {
		c[k] = s
	}
	return c
}

// Read calls f with object k (nil if absent) while the state cannot change.
// f must not keep the object.
func (r *Replica) Read(k crdt.ObjKey, f func(crdt.Object)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	obj := r.state.Get(k)
	r.seqs.touch(k, obj)
	f(obj)
}

// Digest returns the canonical encoding of the whole state (objects and
// vector): two replicas have converged exactly when their digests are equal.
func (r *Replica) Digest() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state.AppendBinary(nil)
}

// PeerLag returns, per known peer, how many ops it is known to lack: the
// sum over origins of this node's vector minus the peer's acknowledged one.
func (r *Replica) PeerLag() map[string]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	lag := make(map[string]uint64, len(r.peerVV))
	for p, pv := range r.peerVV {
		var n uint64
		for o, have := range r.state.VV {
			if have > pv[o] {
				n += have - pv[o]
			}
		}
		lag[p] = n
	}
	return lag
}

// Stats returns the counters.
func (r *Replica) Stats() Stats {
	r.mu.Lock()
	n := r.logCount
	r.mu.Unlock()
	return Stats{
		LocalOps: r.stats.localOps.Load(), RemoteApplied: r.stats.remoteApplied.Load(),
		RemoteDuplicates: r.stats.remoteDup.Load(), RemoteBuffered: r.stats.remoteBuffered.Load(),
		RemoteDropped: r.stats.remoteDropped.Load(), RelaysDropped: r.stats.relaysDropped.Load(),
		BatchesSent: r.stats.batches.Load(), OpsSent: r.stats.opsSent.Load(),
		SnapshotsSent: r.stats.snapshotsSent.Load(), SnapshotsApplied: r.stats.snapshotsApplied.Load(),
		GapPulls: r.stats.gapPulls.Load(), PullsLimited: r.stats.pullsLimited.Load(), OpLogEntries: n,
		TreePrunes: r.stats.treePrunes.Load(), TreeGrafts: r.stats.treeGrafts.Load(), TreeHaves: r.stats.treeHaves.Load(),
		SeqLoads: r.stats.seqLoads.Load(), SeqUnloads: r.stats.seqUnloads.Load(), ViewWrites: r.stats.viewWrites.Load(),
		PushesDropped: r.stats.pushesDropped.Load(),
		HeadsSigned:   r.stats.headsSigned.Load(), HeadsVerified: r.stats.headsVerified.Load(),
	}
}

// Close stops the goroutines after sending what is queued (bounded by
// ctx). The store stays open: its owner closes it. A second Close returns
// ErrClosed.
func (r *Replica) Close(ctx context.Context) error {
	if r.closed.Swap(true) {
		return ErrClosed
	}
	if r.cfg.Transport != nil {
		drained := make(chan struct{})
		go func() { r.q.waitEmpty(ctx); close(drained) }()
		select {
		case <-drained:
		case <-ctx.Done():
		}
		r.waitPushed(ctx)
	}
	r.spawnMu.Lock()
	r.stopping = true
	r.spawnMu.Unlock()
	r.cancel()
	r.q.wake()
	r.wg.Wait()
	r.saveViews()
	return nil
}

// commit writes a batch and, on failure, puts the replica in the failed
// state: memory may now be ahead of disk, so nothing more is accepted until
// a restart rebuilds from the store. Called with mu held.
func (r *Replica) commit(b *store.Batch) (uint64, error) {
	if r.failed != nil { // a read of a backed object failed while applying
		b.Discard()
		return 0, r.failed
	}
	r.addViewDrops(b)
	n, err := r.st.CommitUnchecked(b)
	if err != nil {
		r.failed = fmt.Errorf("replica: store write failed, restart the node: %w", err)
		r.log.Error("store write failed; replica stopped accepting changes", "err", err)
		return 0, r.failed
	}
	r.trim()
	return n, nil
}

// persist adds to b the objects touched, the log entries of applied ops, the
// vector entries of their origins, the heads of origins in heads and the
// clock. Called with mu held.
// ends maps the last op of a proved unit to its head, stored with it.
func (r *Replica) persist(b *store.Batch, rewrite map[crdt.ObjKey]bool, applied []*crdt.Op, ends map[*crdt.Op]*opauth.Head, heads ...string) {
	r.persistHeads(b, heads...)
	// Objects merged whole are written whole, or for maps and sets held
	// backed, the elements the merge changed; an applied op writes the
	// records it changed (a bounded number, whatever the object's size).
	for k := range rewrite {
		obj := r.state.Get(k)
		r.seqs.touch(k, obj)
		if res, ok := obj.(crdt.Resident); ok && res.Backed() {
			putRecords(b, k, res.Dirty())
			res.Clean()
		} else if obj != nil {
			rewriteObject(b, k, obj)
		}
	}
	// Records are computed from the objects as they are after every op of
	// the batch: an object stored as one record (counters, registers) is
	// written once per batch, not once per op.
	var once map[crdt.ObjKey]bool
	var lastSeq crdt.ObjKey // the sequence last noted as used (all ops are applied: its size is final)
	for _, op := range applied {
		if k := op.Obj(); !rewrite[k] {
			if crdt.WholeRecord(k.Type) && len(applied) > 1 {
				if once[k] {
					continue
				}
				if once == nil {
					once = map[crdt.ObjKey]bool{}
				}
				once[k] = true
			}
			obj := r.state.Get(k)
			if k != lastSeq && seqType(k.Type) {
				r.seqs.touch(k, obj)
				lastSeq = k
			}
			if crdt.WholeRecord(k.Type) {
				// Rewritten by every op: the store keeps the last of a
				// commit group (store.Batch.SetLatest).
				putLatest(b, k, crdt.OpRecords(obj, op))
			} else {
				putRecords(b, k, crdt.OpRecords(obj, op))
			}
			if res, ok := obj.(crdt.Resident); ok {
				res.Clean()
			}
		}
	}
	r.noteTombstones(applied)
	r.persistLog(b, applied, ends)
}

// persistHeads adds the heads of origins to b.
func (r *Replica) persistHeads(b *store.Batch, origins ...string) {
	for _, o := range origins {
		h := r.heads[o]
		b.Set(store.Vector, headKey(o), opauth.AppendHead(nil, &h))
	}
}

// persistLog adds to b the log entries of applied, the vector entries of
// their origins and the clock (r.mu held).
func (r *Replica) persistLog(b *store.Batch, applied []*crdt.Op, ends map[*crdt.Op]*opauth.Head) {
	// The log entries, and the vector entry of each origin once (after
	// its last op: ops are applied in order). The vector is what says an
	// entry's commit reached the store (store.ReconcileLog).
	for i, op := range applied {
		h := ends[op]
		b.LogWith(op.Origin, op.Seq, func(d []byte) []byte { return AppendLogValue(d, op, h) })
		if r.logStart[op.Origin] == 0 {
			r.logStart[op.Origin] = op.Seq
		}
		if i == len(applied)-1 || applied[i+1].Origin != op.Origin {
			var kb [1 + 64]byte // an origin is 32 bytes: no allocation
			var vb [binary.MaxVarintLen64]byte
			b.SetLatest(store.Vector, append(append(kb[:0], vvPrefix), op.Origin...),
				binary.AppendUvarint(vb[:0], r.state.VV[op.Origin]))
		}
	}
	// The clock is stored as a lease: a bound at least hlcLease ahead of
	// every timestamp committed so far, rewritten only when passed. After
	// a restart the clock starts above it, so timestamps never repeat.
	if last := r.clock.Last(); last > r.hlcStored {
		r.hlcStored = last + hlcLease
		b.Set(store.Meta, metaHLC, uvarint(r.hlcStored))
	}
}

// Keys returns, sorted, up to limit keys of objects of type t after the key
// after (paging for the status page).
func (r *Replica) Keys(t crdt.Type, after string, limit int) []string {
	r.mu.Lock()
	var keys []string
	for _, k := range r.state.Keys() {
		if k.Type == t && k.Key > after {
			keys = append(keys, k.Key)
		}
	}
	r.mu.Unlock()
	sort.Strings(keys)
	if len(keys) > limit {
		keys = keys[:limit]
	}
	return keys
}
