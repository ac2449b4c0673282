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
	el := s.Elems[e]
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
	if len(el.Adds) == 0 && len(el.Removes) == 0 {
		delete(s.Elems, e)
		freed += len(e) + 2
	}
	return freed
}

// Tombstones calls f with every element's removed tags (for a restart:
// those are the tombstones still to collect).
func (s *ORSet) Tombstones(f func(e string, tags []OpID)) {
	for e, el := range s.Elems {
		if len(el.Removes) > 0 {
			tags := make([]OpID, 0, len(el.Removes))
			for t := range el.Removes {
				tags = append(tags, t)
			}
			f(e, tags)
		}
	}
}

// DropCollected drops from s every tag that vv covers (its add was made
// by an op vv holds) but that other, a snapshot taken at vv, does not
// have: the snapshot's sender held it and has collected it. Without this a
// merge would bring back what every other replica has collected. It
// returns the elements changed.
func (s *ORSet) DropCollected(other *ORSet, vv map[string]uint64) []string {
	var changed []string
	for e, el := range s.Elems {
		var oe *SetElem
		if other != nil {
			oe = other.Elems[e]
		}
		dropped := false
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
				delete(set, t)
				dropped = true
			}
		}
		if dropped {
			changed = append(changed, e)
			if len(el.Adds) == 0 && len(el.Removes) == 0 {
				delete(s.Elems, e)
			}
		}
	}
	return changed
}
