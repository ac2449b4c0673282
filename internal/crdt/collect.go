package crdt

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
