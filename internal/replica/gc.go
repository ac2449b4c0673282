package replica

import (
	"encoding/binary"
	"strings"
	"time"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/store"
)

// Tombstone collection by causal stability (docs/crdt.md). It collects
// ORSet removals, deleted Text runs (crdt.Text.CollectRun: a wholly
// deleted run once nothing was placed after it), deleted RGA elements
// (crdt.RGA.CollectElem, likewise) and LWW-Map removals. A removed field
// goes only once every member ever seen holds it, those away past
// MemberExpiry included (strict, below): a late write from one, stamped
// before the removal, would otherwise land where the tombstone went and
// lose where it is still kept, for good.
//
// A removal is collected in two steps, by epochs of removals applied here:
//
//  1. An epoch closes with V, this node's version vector: every removal of
//     the epoch is in V. Once every live member has acknowledged V (S >= V,
//     below), every member holds the removals; W is then this node's
//     vector, which holds every op made concurrently with them (see S).
//  2. Once every live member has acknowledged W too, every member holds
//     those concurrent ops as well, so no op that could still name a
//     collected tag, or be placed by it, can arrive anywhere: the tags go.
//
// S is, per origin, the least that the live members have acknowledged, but
// only counting a member's acknowledgement once this node holds every op
// that member had made when it sent it: the ops made concurrently with a
// removal are then here too.
//
// Members are the peers that have linked with this node (and the origins it
// holds ops of), remembered in the store with when they were last heard
// from; one unheard from for longer than MemberExpiry stops holding
// collection back, and if it returns it is told what it lacks (a snapshot
// of a set drops the tags collected meanwhile: crdt.ORSet.DropCollected).
// Collection waits while fewer members are known than the membership size
// discovery reports (Config.MembershipSize).

// DefaultMemberExpiry is how long an unheard member holds collection back.
const DefaultMemberExpiry = 7 * 24 * time.Hour

// gcEpochEvery is how often an epoch of removals closes.
const gcEpochEvery = time.Second

const memberPrefix = "member/"

// tombItem is one removal waiting: an ORSet element's removed tags.
type tombItem struct {
	k    crdt.ObjKey
	elem string
	tags []crdt.OpID
}

// delLogger is a Text or an RGA: it logs its deletes itself, and the
// epochs hold marks in those logs (crdt.Text.CollectDeleted).
type delLogger interface {
	DelMark() uint64
	DelsWaiting() int
	RequeueDeleted()
	CollectDeleted(mark uint64) ([]crdt.Record, int)
	InsertedDeleted(id crdt.OpID) bool
}

// lwwTomb is one LWW-Map removal waiting: the field and the removal's
// stamp (a later write keeps the field).
type lwwTomb struct {
	k     crdt.ObjKey
	field string
	stamp crdt.Stamp
}

// lwwBatch is the LWW-Map removals of a passed epoch, waiting for the two
// steps again with every member ever seen (stableStrict): v is the
// epoch's, w this node's vector once step 1 passes.
type lwwBatch struct {
	opened time.Time // the epoch's
	v, w   map[string]uint64
	items  []lwwTomb
}

type tombEpoch struct {
	opened, closed time.Time
	v, w           map[string]uint64 // nil until the epoch closes / passes step 1
	items          []tombItem
	lww            []lwwTomb
	// dels holds the Texts and RGAs with deletes in the epoch, and once
	// it closes, the mark of each one's delete log then.
	dels map[crdt.ObjKey]uint64
}

type gcState struct {
	epochs []*tombEpoch // closed ones in order, then the open one (last, v nil)
	// members maps a member to when it was last heard from (Unix ms);
	// dirty ones are written at the next pass.
	members map[string]int64
	dirty   map[string]bool
	// own is, per peer, the seq of its own ops it said it holds in its last
	// acknowledgement (uncapped, unlike peerVV).
	own map[string]uint64
	// usable is, per member, the last acknowledgement this node holds every
	// op of that member's up to (S is their least).
	usable map[string]map[string]uint64
	// lww holds the LWW-Map removals of passed epochs, in order; rescan
	// the maps and sets whose records are still to be read for tombstones
	// after a start.
	lww    []lwwBatch
	rescan []rescanItem
	// collected counts the bytes freed; pending the removed tags and
	// fields waiting (the deletes of Texts and RGAs waiting are counted in
	// their logs).
	collected, pending int
}

func newGCState() gcState {
	return gcState{members: map[string]int64{}, dirty: map[string]bool{}, own: map[string]uint64{},
		usable: map[string]map[string]uint64{}}
}

// noteTombstones records the removals among applied ops (r.mu held).
func (r *Replica) noteTombstones(applied []*crdt.Op) {
	for _, op := range applied {
		switch {
		case op.Kind == crdt.ORSetRemove && len(op.Tags) > 0:
			r.addTomb(tombItem{k: op.Obj(), elem: string(op.Field), tags: op.Tags})
		case op.Kind == crdt.LWWMapRemove:
			r.addLWWTomb(lwwTomb{k: op.Obj(), field: string(op.Field), stamp: crdt.Stamp{HLC: op.HLC, Writer: op.Origin}})
		case op.Kind == crdt.TextDelete || op.Kind == crdt.RGADelete:
			r.openEpoch().dels[op.Obj()] = 0
		case (op.Kind == crdt.TextInsert || op.Kind == crdt.RGAInsert) && op.Origin != r.nodeID:
			// A remote insert whose deletes came first logs them again
			// (crdt.RGA.insert): they wait for this epoch. (Nothing can
			// delete this node's own insert before it is made.)
			if o, ok := r.state.Get(op.Obj()).(delLogger); ok && o.InsertedDeleted(op.ID()) {
				r.openEpoch().dels[op.Obj()] = 0
			}
		}
	}
}

// queueTombstones queues the removals object k holds: at a restart (obj
// is the object; requeue, as the delete logs of Texts and RGAs are not
// stored) or after a snapshot merge (obj is the snapshot's: its ORSet tags
// are queued, and the merge logged the deletes it brought into the Text's
// or RGA's log). They wait for stability again.
func (r *Replica) queueTombstones(k crdt.ObjKey, obj crdt.Object, requeue bool) {
	if requeue && backedType(k.Type) {
		// At a start: a map's or a set's tombstones are read from its
		// records a part at a time on the collection timer (rescan), not
		// all of them now.
		r.gc.rescan = append(r.gc.rescan, rescanItem{k: k})
		return
	}
	if set, ok := obj.(*crdt.ORSet); ok {
		set.Tombstones(func(e string, tags []crdt.OpID) { r.addTomb(tombItem{k: k, elem: e, tags: tags}) })
		return
	}
	if m, ok := obj.(*crdt.LWWMap); ok {
		m.Tombstones(func(f string, stamp crdt.Stamp) { r.addLWWTomb(lwwTomb{k: k, field: f, stamp: stamp}) })
		return
	}
	o, ok := r.state.Get(k).(delLogger)
	if !ok {
		return
	}
	if requeue {
		o.RequeueDeleted()
	}
	if o.DelsWaiting() > 0 {
		r.openEpoch().dels[k] = 0
	}
}

// openEpoch returns the open epoch, opening one if none is.
func (r *Replica) openEpoch() *tombEpoch {
	g := &r.gc
	if n := len(g.epochs); n > 0 && g.epochs[n-1].v == nil {
		return g.epochs[n-1]
	}
	e := &tombEpoch{opened: time.Now(), dels: map[crdt.ObjKey]uint64{}}
	g.epochs = append(g.epochs, e)
	return e
}

// rescanItem is an LWW-Map or an ORSet whose stored tombstones are read
// again after a start, from after the sub-key after.
type rescanItem struct {
	k     crdt.ObjKey
	after []byte
}

// rescanStep is how many records of maps and sets the collection timer
// reads for tombstones at each tick after a start (a few milliseconds).
const rescanStep = 10_000

// rescan queues the tombstones of the next rescanStep records of the maps
// and sets read again after a start (r.mu held).
func (r *Replica) rescan() {
	g := &r.gc
	for left := rescanStep; left > 0 && len(g.rescan) > 0; {
		rs := &g.rescan[0]
		prefix := objPrefix(rs.k)
		var from []byte
		if rs.after != nil {
			from = append(prefix[:len(prefix):len(prefix)], rs.after...)
		}
		rows, err := r.st.Scan(store.CRDT, store.ScanOptions{Prefix: prefix, After: from, Limit: left})
		if err != nil {
			r.log.Warn("tombstones not read for collection", "type", rs.k.Type, "key", rs.k.Key, "err", err)
			g.rescan = g.rescan[1:]
			continue
		}
		for _, row := range rows {
			sub := string(row.Key[len(prefix):])
			if rs.k.Type == crdt.TypeORSet {
				if tags, err := crdt.SetRecordRemoved(row.Value); err == nil && len(tags) > 0 {
					r.addTomb(tombItem{k: rs.k, elem: sub, tags: tags})
				}
				continue
			}
			if e, err := crdt.MapRecordEntry(row.Value); err == nil && e.Removed {
				r.addLWWTomb(lwwTomb{k: rs.k, field: sub, stamp: e.Stamp})
			}
		}
		left -= len(rows)
		if len(rows) == 0 || left > 0 {
			g.rescan = g.rescan[1:] // read to its end
			continue
		}
		rs.after = append([]byte(nil), rows[len(rows)-1].Key[len(prefix):]...)
	}
}

func (r *Replica) addLWWTomb(it lwwTomb) {
	e := r.openEpoch()
	e.lww = append(e.lww, it)
	r.gc.pending++
}

func (r *Replica) addTomb(it tombItem) {
	e := r.openEpoch()
	e.items = append(e.items, it)
	r.gc.pending += len(it.tags)
}

// heard records that a member spoke (r.mu held); vv is what it said it
// holds, if it said.
func (r *Replica) heard(peer string, vv map[string]uint64) {
	g := &r.gc
	now := r.cfg.Wall()
	if now-g.members[peer] > 1000 {
		g.dirty[peer] = true
	}
	g.members[peer] = now
	if s, ok := vv[peer]; ok && s > g.own[peer] {
		g.own[peer] = s
	}
}

// loadMembers reads the remembered members and queues every tombstone the
// state holds (their removals' epochs are not stored: they start again).
func (r *Replica) loadMembers() error {
	rows, err := r.st.Scan(store.Meta, store.ScanOptions{Prefix: []byte(memberPrefix)})
	if err != nil {
		return err
	}
	for _, row := range rows {
		id := strings.TrimPrefix(string(row.Key), memberPrefix)
		if v, n := binary.Uvarint(row.Value); n > 0 && id != r.nodeID {
			r.gc.members[id] = int64(v)
		}
	}
	for k, obj := range r.state.Objects {
		r.queueTombstones(k, obj, true)
	}
	return nil
}

// liveMembers returns the members heard from within MemberExpiry.
func (r *Replica) liveMembers() []string {
	now := r.cfg.Wall()
	var live []string
	for m, at := range r.gc.members {
		if now-at <= r.cfg.MemberExpiry.Milliseconds() {
			live = append(live, m)
		}
	}
	return live
}

// stable returns S (nil if some live member has no usable acknowledgement,
// or fewer members are known than the membership has).
func (r *Replica) stable() map[string]uint64 {
	g := &r.gc
	for m, vv := range r.peerVV {
		if r.state.VV[m] >= g.own[m] {
			g.usable[m] = copyVV(vv)
		}
	}
	return r.stableOver(r.liveMembers())
}

// stableStrict is stable over every member ever seen, however long
// unheard: what LWW-Map removals wait for.
func (r *Replica) stableStrict() map[string]uint64 {
	all := make([]string, 0, len(r.gc.members))
	for m := range r.gc.members {
		all = append(all, m)
	}
	return r.stableOver(all)
}

func (r *Replica) stableOver(live []string) map[string]uint64 {
	g := &r.gc
	if f := r.cfg.MembershipSize; f != nil && len(live)+1 < f() {
		return nil
	}
	s := copyVV(r.state.VV)
	for _, m := range live {
		u := g.usable[m]
		if u == nil {
			return nil
		}
		for o, v := range s {
			s[o] = min(v, u[o])
		}
	}
	return s
}

// passed reports whether removals closed with vector v passed both steps
// under S = s: step 1 once s covers v, which sets *w to this node's vector
// then; step 2 once s covers *w too.
func (r *Replica) passed(s, v map[string]uint64, w *map[string]uint64) bool {
	if v == nil || !covers(s, v) {
		return false
	}
	if *w == nil {
		*w = copyVV(r.state.VV)
	}
	return covers(s, *w)
}

func covers(s, v map[string]uint64) bool {
	for o, x := range v {
		if s[o] < x {
			return false
		}
	}
	return true
}

// collect runs one pass (r.mu held): closes the open epoch if it is old
// enough, moves epochs through the two steps, drops what passed both and
// writes the member table.
func (r *Replica) collect() {
	g := &r.gc
	now := time.Now()
	b := r.st.NewBatch()
	for m := range g.dirty {
		b.Set(store.Meta, []byte(memberPrefix+m), uvarint(uint64(g.members[m])))
	}
	clear(g.dirty)
	if n := len(g.epochs); n > 0 && g.epochs[n-1].v == nil && now.Sub(g.epochs[n-1].opened) >= gcEpochEvery {
		e := g.epochs[n-1]
		e.v, e.closed = copyVV(r.state.VV), now
		for k := range e.dels {
			if o, ok := r.state.Get(k).(delLogger); ok {
				e.dels[k] = o.DelMark()
			}
		}
	}
	s := r.stable()
	changed := map[crdt.ObjKey]*crdt.ORSet{} // sets are backed here: Dirty has what changed
	for len(g.epochs) > 0 && s != nil {
		e := g.epochs[0]
		if !r.passed(s, e.v, &e.w) {
			break
		}
		for k, mark := range e.dels {
			if o, ok := r.state.Get(k).(delLogger); ok {
				recs, freed := o.CollectDeleted(mark)
				putRecords(b, k, recs)
				g.collected += freed
				r.seqs.touch(k, r.state.Get(k)) // its size changed
			}
		}
		for _, it := range e.items {
			set, _ := r.state.Get(it.k).(*crdt.ORSet)
			g.pending -= len(it.tags)
			if set == nil {
				continue
			}
			g.collected += set.Collect(it.elem, it.tags)
			changed[it.k] = set
		}
		if len(e.lww) > 0 {
			g.lww = append(g.lww, lwwBatch{opened: e.opened, v: e.v, items: e.lww})
		}
		g.epochs = g.epochs[1:]
	}
	for k, set := range changed {
		putRecords(b, k, set.Dirty())
		set.Clean()
	}
	maps := r.collectLWW()
	for k, m := range maps {
		putRecords(b, k, m.Dirty())
		m.Clean()
	}
	if b.Len() == 0 {
		b.Discard()
		return
	}
	if _, err := r.commit(b); err != nil {
		return
	}
	if len(changed)+len(maps) > 0 {
		r.log.Debug("tombstones collected", "objects", len(changed)+len(maps), "bytes_total", g.collected)
	}
}

// collectLWW drops the LWW-Map removals whose batches passed both steps
// with every member ever seen, and returns the maps changed (r.mu held).
func (r *Replica) collectLWW() map[crdt.ObjKey]*crdt.LWWMap {
	g := &r.gc
	if len(g.lww) == 0 {
		return nil
	}
	s := r.stableStrict()
	changed := map[crdt.ObjKey]*crdt.LWWMap{}
	for len(g.lww) > 0 && s != nil {
		lb := &g.lww[0]
		if !r.passed(s, lb.v, &lb.w) {
			break
		}
		for _, it := range lb.items {
			g.pending--
			if m, _ := r.state.Get(it.k).(*crdt.LWWMap); m != nil {
				if n := m.CollectRemoved(it.field, it.stamp); n > 0 {
					g.collected += n
					changed[it.k] = m
				}
			}
		}
		g.lww = g.lww[1:]
	}
	return changed
}

// GCStats are tombstone collection's figures for metrics.
type GCStats struct {
	// CollectedBytes counts the encoded bytes of tombstones dropped.
	CollectedBytes int
	// Pending is how many removed tags and Text and RGA deletes wait to
	// be collected.
	Pending int
	// OldestAge is how long the oldest waiting tombstone has waited.
	OldestAge time.Duration
}

// GC returns the collection figures.
func (r *Replica) GC() GCStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := GCStats{CollectedBytes: r.gc.collected, Pending: r.gc.pending}
	counted := map[crdt.ObjKey]bool{}
	for _, e := range r.gc.epochs {
		for k := range e.dels {
			if o, ok := r.state.Get(k).(delLogger); ok && !counted[k] {
				counted[k] = true
				st.Pending += o.DelsWaiting()
			}
		}
	}
	if len(r.gc.epochs) > 0 {
		st.OldestAge = time.Since(r.gc.epochs[0].opened)
	}
	if len(r.gc.lww) > 0 {
		st.OldestAge = max(st.OldestAge, time.Since(r.gc.lww[0].opened))
	}
	return st
}

// collectNow runs a collection pass on its timer (a node without peers
// is never acknowledged, so the prune after acknowledgements never runs).
func (r *Replica) collectNow() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed == nil {
		r.collectViews()
		r.rescan()
		r.collect()
		r.trim() // nothing is dirty between commits: an idle node unloads too
		r.flushIdleViews()
	}
}
