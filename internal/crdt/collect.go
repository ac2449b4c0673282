package crdt

import (
	"slices"
)

// Tombstone collection (docs/crdt.md, "Tombstone collection by causal
// stability"): the replica decides when a removal is causally stable;
// these drop what it no longer needs.

// tagBytes is what a tag costs in an encoding: its seq (about 3 bytes)
// and its origin (1 + 32).
func tagBytes(id OpID) int { return 4 + len(id.Origin) }

// Collect drops tags, removed by a remove that is now causally stable,
// from element e: from its removes and from its adds (no add with those
// tags can arrive again, and every replica has them removed). An element
// left without tags goes. It returns the encoded bytes freed.
func (s *ORSet) Collect(e string, tags []OpID) int {
	el := s.lookup(e)
	if el == nil {
		return 0
	}
	freed := 0
	for _, t := range tags {
		if _, ok := el.Removes[t]; !ok {
			continue // not removed here (yet): nothing to collect
		}
		delete(el.Removes, t)
		freed += tagBytes(t)
		if _, ok := el.Adds[t]; ok {
			delete(el.Adds, t)
			freed += tagBytes(t)
		}
	}
	if s.back != nil {
		s.dirty[e] = true
	}
	if len(el.Adds) == 0 && len(el.Removes) == 0 {
		delete(s.Elems, e)
		freed += len(e) + 2
	}
	s.account(e)
	return freed
}

// Tombstones calls f with every element's removed tags (for a restart:
// those are the tombstones still to collect).
func (s *ORSet) Tombstones(f func(e string, tags []OpID)) {
	s.each(func(e string, el *SetElem) bool {
		if len(el.Removes) > 0 {
			tags := make([]OpID, 0, len(el.Removes))
			for t := range el.Removes {
				tags = append(tags, t)
			}
			f(e, tags)
		}
		return true
	})
}

// DropCollected drops from s every tag that vv covers (its add was made
// by an op vv holds) but that other, a snapshot taken at vv, does not
// have: the snapshot's sender held it and has collected it. Without this a
// merge would bring back what every other replica has collected. It
// returns the elements changed.
func (s *ORSet) DropCollected(other *ORSet, vv map[string]uint64) []string {
	type drop struct {
		e    string
		tags []OpID
	}
	var drops []drop
	s.each(func(e string, el *SetElem) bool {
		var oe *SetElem
		if other != nil {
			oe = other.lookup(e)
		}
		var gone []OpID
		for _, set := range []map[OpID]struct{}{el.Adds, el.Removes} {
			for t := range set {
				if t.Seq > vv[t.Origin] {
					continue
				}
				if oe != nil {
					_, inAdds := oe.Adds[t]
					_, inRemoves := oe.Removes[t]
					if inAdds || inRemoves {
						continue
					}
				}
				gone = append(gone, t)
			}
		}
		if len(gone) > 0 {
			drops = append(drops, drop{e, gone})
		}
		return true
	})
	changed := make([]string, 0, len(drops))
	for _, d := range drops {
		el := s.elem(d.e)
		for _, t := range d.tags {
			delete(el.Adds, t)
			delete(el.Removes, t)
		}
		if len(el.Adds) == 0 && len(el.Removes) == 0 {
			delete(s.Elems, d.e)
		}
		s.account(d.e)
		changed = append(changed, d.e)
	}
	return changed
}

// wholeDeleted reports whether every character of run is deleted.
func (t *Text) wholeDeleted(run *textRun) bool {
	ss := run.dels()
	return len(ss) == 1 && ss[0].off == 0 && ss[0].end >= uint64(len(run.text))
}

// DeletedRuns calls f with every placed run whose characters are all
// deleted.
func (t *Text) DeletedRuns(f func(OpID)) {
	for run := range t.runs.all() {
		if run.placed() && t.wholeDeleted(run) {
			f(run.id)
		}
	}
}

// CollectRun is told that no delete of run id waits for causal stability
// any more. A run whose characters are all deleted then goes once no run
// was placed after one of its characters (kids): no op that could name one
// of its characters can arrive (a new insert's parent is a visible
// character), and taking a deleted run out of the order moves no visible
// character and no future insert (the runs the skip of integrate meets
// after it are older than any insert made once its deletion was known).
// Its parent may then go in turn, and so on up. It returns the records to
// write (removals) and the encoded bytes freed.
func (t *Text) CollectRun(id OpID) (recs []Record, freed int) {
	run := t.run(id)
	if run == nil || !run.placed() || !t.wholeDeleted(run) {
		return nil, 0
	}
	run.del.stable = true
	for run != nil && run.del != nil && run.del.stable && run.kids == 0 && t.wholeDeleted(run) {
		sub := make([]byte, 0, 9+len(run.id.Origin))
		sub = appendIDKey(append(sub, textRunRec), run.id)
		// The record's size, near enough: its key, stamp, parent, text
		// and one deleted span.
		freed += len(sub) + 16 + len(run.text)
		recs = append(recs, Record{Sub: sub})
		for _, p := range run.pieces() {
			t.tree.remove(p)
		}
		t.forget(run.id)
		if run.parent.Run.IsZero() {
			break
		}
		if run = t.run(run.parent.Run); run != nil {
			run.kids--
		}
	}
	return recs, freed
}

// DeletedLeaves counts the wholly deleted runs nothing was placed after:
// what CollectRun takes once their deletes are stable (0 after a full
// collection).
func (t *Text) DeletedLeaves() int {
	n := 0
	t.DeletedRuns(func(id OpID) {
		if t.run(id).kids == 0 {
			n++
		}
	})
	return n
}

// DropCollected drops from t every run that vv covers (its insert was
// made by an op vv holds) but that other, a snapshot taken at vv, does
// not have: the snapshot's sender held it and collected it, so every
// delete of it is stable and no replica will show it (without this the
// merge would bring it back, visible if this replica never got the
// deletes). A run left whose parent went (written by a member away past
// member_expiry after the others collected its parent) waits, hidden, as
// it does everywhere else. It reports whether t changed.
func (t *Text) DropCollected(other *Text, vv map[string]uint64) bool {
	t.init()
	var drop []OpID
	gone := func(id OpID) bool {
		return id.Seq <= vv[id.Origin] && (other == nil || (other.runs.get(id) == nil && other.early[id] == nil))
	}
	for run := range t.runs.all() {
		if gone(run.id) {
			drop = append(drop, run.id)
		}
	}
	for id := range t.early {
		if gone(id) { // deletes of a run that never came
			drop = append(drop, id)
		}
	}
	if len(drop) == 0 {
		return false
	}
	for _, id := range drop {
		t.forget(id)
	}
	// Rebuilt from what is left, as a decode does: placing and waiting
	// follow from the parents that remain.
	runs := slices.Collect(t.runs.all())
	early, dels := t.early, t.dels
	*t = Text{}
	t.init()
	t.early, t.dels = early, dels
	t.placeRuns(runs)
	return true
}

// VisibleBefore returns the parent a local insert after element id should
// name: id itself unless it is deleted, else the nearest visible element
// before it in the sequence (the zero id: the head), which puts the insert
// at the same visible place, so that no op made after a deletion names the
// deleted element (what lets CollectElem drop it). ok is false for a
// deleted element whose place is not known yet (its parent has not
// arrived).
func (r *RGA) VisibleBefore(id OpID) (_ OpID, ok bool) {
	e := r.Elems[id]
	if e == nil || !e.Deleted {
		return id, true
	}
	if e.node == nil {
		return OpID{}, false
	}
	i := r.tree.rank(e.node)
	if i == 0 {
		return OpID{}, true
	}
	n, _ := r.tree.at(i - 1)
	return n.val.ID, true
}

// DeletedElems calls f with every placed element that is deleted.
func (r *RGA) DeletedElems(f func(OpID)) {
	for id, e := range r.Elems {
		if e.Inserted && e.Deleted && e.node != nil {
			f(id)
		}
	}
}

// DeletedLeaves counts the deleted elements without children: what
// CollectElem takes once their deletes are stable (0 after a full
// collection).
func (r *RGA) DeletedLeaves() int {
	n := 0
	r.DeletedElems(func(id OpID) {
		if len(r.Elems[id].kids) == 0 {
			n++
		}
	})
	return n
}

// CollectElem is told that element id's deletion is causally stable. A
// deleted element then goes once it has no children (inserted or waiting):
// no op can name it again (a local insert after a deleted element names
// the visible one before it, VisibleBefore, and every op made before its
// writer saw the delete is here by then), and taking a childless deleted
// element out moves no visible element and no later insert (its siblings
// keep their order). Its parent may then go in turn, and so on up. It
// returns the records to write (removals) and the encoded bytes freed.
func (r *RGA) CollectElem(id OpID) (recs []Record, freed int) {
	e := r.Elems[id]
	if e == nil || !e.Inserted || !e.Deleted || e.node == nil {
		return nil, 0
	}
	e.stable = true
	for e != nil && e.stable && e.Deleted && e.node != nil && len(e.kids) == 0 {
		rec := r.elemRecord(e.ID)
		freed += len(rec.Sub) + len(rec.Value)
		recs = append(recs, Record{Sub: rec.Sub})
		r.tree.remove(e.node)
		sib := r.siblings(e)
		if i, found := slices.BinarySearchFunc(sib, e, newer); found {
			sib = slices.Delete(sib, i, i+1)
		}
		r.setSiblings(e, sib)
		delete(r.Elems, e.ID)
		if e.Parent.IsZero() {
			break
		}
		e = r.Elems[e.Parent]
	}
	return recs, freed
}

// DropCollected drops from r every inserted element that vv covers but
// that other, a snapshot taken at vv, does not have: its sender collected
// it (see Text.DropCollected). An element left whose parent went waits,
// hidden, as it does everywhere else. It reports whether r changed.
func (r *RGA) DropCollected(other *RGA, vv map[string]uint64) bool {
	r.init()
	changed := false
	for id := range r.Elems {
		// A delete that came before its insert too: the sender, holding
		// the insert, would have the element.
		if id.Seq <= vv[id.Origin] && other.elem(id) == nil {
			delete(r.Elems, id)
			changed = true
		}
	}
	if !changed {
		return false
	}
	r.linkAll() // from what is left, as a decode does
	return true
}

func (r *RGA) elem(id OpID) *RGAElem {
	if r == nil {
		return nil
	}
	return r.Elems[id]
}

// delLog logs the deletes a Text or an RGA applied (the ids they named),
// so that the replica can collect what became causally stable without
// keeping its own index: it takes a mark when an epoch of removals closes
// (DelMark) and, once that epoch is stable, collects what was deleted
// before the mark (CollectDeleted). Each run or element remembers the mark
// of its latest delete (lastDel), so one deleted again later waits for
// that later delete.
type delLog struct {
	ids  []OpID
	base uint64 // the mark before ids[0]
}

// add logs id and returns the mark just after it.
func (l *delLog) add(id OpID) uint64 {
	l.ids = append(l.ids, id)
	return l.mark()
}

func (l *delLog) mark() uint64 { return l.base + uint64(len(l.ids)) }

// take removes and returns the ids logged before mark m.
func (l *delLog) take(m uint64) []OpID {
	n := int(min(m-min(m, l.base), uint64(len(l.ids))))
	out := l.ids[:n:n]
	l.ids = l.ids[n:]
	l.base += uint64(n)
	if len(l.ids) == 0 {
		l.ids = nil
	}
	return out
}

// collect takes the ids logged before mark m (their deletes all causally
// stable now) and collects, with f, each one whose latest delete (lastDel:
// false if it is gone) came before m too.
func (l *delLog) collect(m uint64, lastDel func(OpID) (uint64, bool), f func(OpID) ([]Record, int)) (recs []Record, freed int) {
	for _, id := range l.take(m) {
		if last, ok := lastDel(id); ok && last <= m {
			rs, n := f(id)
			recs, freed = append(recs, rs...), freed+n
		}
	}
	return recs, freed
}

// DelMark returns the mark after the last delete applied (see delLog).
func (t *Text) DelMark() uint64 { return t.dels.mark() }

// InsertedDeleted reports whether run id has deleted characters (after its
// insert was applied: its deletes came first).
func (t *Text) InsertedDeleted(id OpID) bool { return len(t.spans(id)) > 0 }

// DelsWaiting returns how many logged deletes wait for collection.
func (t *Text) DelsWaiting() int { return len(t.dels.ids) }

// RequeueDeleted logs every wholly deleted run as deleted now (a restart:
// the log is not stored, so what it held waits for stability again).
func (t *Text) RequeueDeleted() {
	t.DeletedRuns(func(id OpID) { t.run(id).del.lastDel = t.dels.add(id) })
}

// CollectDeleted takes the deletes logged before mark m, all causally
// stable now, and collects the runs they named that no later delete names
// (CollectRun).
func (t *Text) CollectDeleted(m uint64) ([]Record, int) {
	return t.dels.collect(m, func(id OpID) (uint64, bool) {
		run := t.run(id)
		if run == nil {
			return 0, false
		}
		if run.del == nil {
			return 0, true
		}
		return run.del.lastDel, true
	}, t.CollectRun)
}

// DelMark returns the mark after the last delete applied (see delLog).
func (r *RGA) DelMark() uint64 { return r.dels.mark() }

// InsertedDeleted reports whether element id is deleted (after its insert
// was applied: its delete came first).
func (r *RGA) InsertedDeleted(id OpID) bool {
	e := r.Elems[id]
	return e != nil && e.Deleted
}

// DelsWaiting returns how many logged deletes wait for collection.
func (r *RGA) DelsWaiting() int { return len(r.dels.ids) }

// RequeueDeleted logs every deleted element as deleted now (a restart).
func (r *RGA) RequeueDeleted() {
	r.DeletedElems(func(id OpID) { r.Elems[id].lastDel = r.dels.add(id) })
}

// CollectDeleted takes the deletes logged before mark m, all causally
// stable now, and collects the elements they named that no later delete
// names (CollectElem).
func (r *RGA) CollectDeleted(m uint64) ([]Record, int) {
	return r.dels.collect(m, func(id OpID) (uint64, bool) {
		e := r.Elems[id]
		if e == nil {
			return 0, false
		}
		return e.lastDel, true
	}, r.CollectElem)
}
