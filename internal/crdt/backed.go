package crdt

import "slices"

// Backed objects (docs/crdt.md, "Objects of any size"): an LWW-Map or an
// ORSet made with a Backing keeps only some of its elements in memory —
// those read or written since it was last evicted — and reads the others
// from their records when asked. Iteration goes through the backing in
// record order (sorted by field or element). A node holds its maps and sets
// this way, so their size is bounded by the Cache, not by the data.

// Backing reads one object's stored records (crdt.Record sub-keys and
// values). A read failure is the backing's to report (the replica stops);
// to the object it reads as absent.
type Backing interface {
	Get(sub []byte) ([]byte, bool)
	// Each calls f with the records in sub-key order, strictly after after
	// (nil: from the first), until f returns false.
	Each(after []byte, f func(sub, value []byte) bool)
}

// Cache counts the bytes of the elements backed objects hold in memory.
type Cache struct {
	Used int64
}

// Resident is implemented by objects that may hold elements of a Backing.
type Resident interface {
	// Backed reports whether the object reads from a Backing.
	Backed() bool
	// ResidentBytes is the memory its resident elements take (roughly).
	ResidentBytes() int64
	// Dirty returns the records of the elements changed since Clean: what
	// a write must store (a nil Value deletes the record).
	Dirty() []Record
	// Clean forgets what Dirty returned (once it is in the store's batch).
	Clean()
	// Evict drops every resident element that is not dirty.
	Evict()
}

// mergeKeys merges sorted dirty keys into an iteration over a backing: f
// sees every key once, in order; dirty says whether the resident version is
// the one to use.
func mergeKeys(dirty map[string]bool, back Backing, f func(k string, stored []byte, useResident bool) bool) {
	keys := make([]string, 0, len(dirty))
	for k := range dirty {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	i := 0
	stop := false
	back.Each(nil, func(sub, v []byte) bool {
		k := string(sub)
		for i < len(keys) && keys[i] < k {
			if !f(keys[i], nil, true) {
				stop = true
				return false
			}
			i++
		}
		if i < len(keys) && keys[i] == k {
			i++
			if !f(k, nil, true) {
				stop = true
				return false
			}
			return true
		}
		if !f(k, v, false) {
			stop = true
			return false
		}
		return true
	})
	for ; !stop && i < len(keys); i++ {
		if !f(keys[i], nil, true) {
			return
		}
	}
}
