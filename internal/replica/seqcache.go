package replica

import (
	"slices"
	"time"

	"github.com/numax/numax/internal/crdt"
)

// RGAs and Texts are held whole while in use and unloaded past the cache
// (docs/crdt.md, "Objects of any size"): hydration reads none of them; the
// first Get reads one whole from its records (loadSeq); after a commit, if
// the map and set elements in memory and the sequences together pass
// [storage] crdt_cache, the least recently used sequences are unloaded
// (State.Unload) until three quarters of it is left, also on the
// collection timer, so an idle node lets them go too. A sequence used in
// the last second stays (a document larger than the cache is kept while it
// is edited, not read again whole for every keystroke), and so does one
// whose deletes wait for collection: the epochs hold marks in its delete
// log (gc.go). An unloaded sequence is in the store whole (every change to
// one is committed with its records before trim runs), so unloading loses
// nothing; when it is read again its deletes are queued for collection
// again, as at a start.

// seqType reports whether objects of type t are held whole while in use
// and unloaded past the cache.
func seqType(t crdt.Type) bool { return t == crdt.TypeRGA || t == crdt.TypeText }

// seqKeep is how long a sequence stays in memory after its last use,
// whatever the cache.
const seqKeep = time.Second

// seqCache orders the sequences in memory by last use.
type seqCache struct {
	used map[crdt.ObjKey]time.Time // sequences in memory -> last use
}

func newSeqCache() *seqCache { return &seqCache{used: map[crdt.ObjKey]time.Time{}} }

// touch notes a use of sequence k (r.mu held).
func (c *seqCache) touch(k crdt.ObjKey) {
	if seqType(k.Type) {
		c.used[k] = time.Now()
	}
}

// memBytes is what a sequence object takes in memory (an estimate).
func memBytes(obj crdt.Object) int64 {
	switch o := obj.(type) {
	case *crdt.Text:
		return o.MemBytes()
	case *crdt.RGA:
		return o.MemBytes()
	}
	return 0
}

// bytes is what the sequences in memory take; ones no longer there (a
// snapshot replaced nothing, but a key may have been unloaded) are
// forgotten.
func (c *seqCache) bytes(s *crdt.State) int64 {
	var n int64
	for k := range c.used {
		obj := s.Objects[k]
		if obj == nil {
			delete(c.used, k)
			continue
		}
		n += memBytes(obj)
	}
	return n
}

// loadSeq reads sequence k whole (State.Load; r.mu held). A read failure
// stops the replica (failed) and reads as an empty object; the replica then
// refuses every change.
func (r *Replica) loadSeq(k crdt.ObjKey) crdt.Object {
	obj, err := readObject(r.st, k)
	if err != nil {
		if r.failed == nil {
			r.failed = err
			r.log.Error("CRDT object unreadable; replica stopped accepting changes", "type", k.Type, "key", k.Key, "err", err)
		}
		return crdt.New(k.Type)
	}
	if obj == nil { // every element collected
		obj = crdt.New(k.Type)
	}
	return obj
}

// seqLoaded is State.OnLoad: sequence k is in memory again (r.mu held); its
// deletes are queued for collection, as at a start.
func (r *Replica) seqLoaded(k crdt.ObjKey, obj crdt.Object) {
	r.seqs.touch(k)
	r.stats.seqLoads.Add(1)
	r.queueTombstones(k, obj, true)
}

// unloadSeqs unloads the least recently used sequences that hold no
// waiting deletes until those left take at most budget bytes, and reports
// whether it got there (r.mu held, after a commit).
func (r *Replica) unloadSeqs(budget int64) bool {
	pinned := map[crdt.ObjKey]bool{}
	for _, e := range r.gc.epochs {
		for k := range e.dels {
			pinned[k] = true
		}
	}
	keys := make([]crdt.ObjKey, 0, len(r.seqs.used))
	var total int64
	for k := range r.seqs.used {
		keys = append(keys, k)
		total += memBytes(r.state.Objects[k])
	}
	slices.SortFunc(keys, func(a, b crdt.ObjKey) int { return r.seqs.used[a].Compare(r.seqs.used[b]) })
	now := time.Now()
	for _, k := range keys {
		if total <= budget {
			return true
		}
		if pinned[k] || now.Sub(r.seqs.used[k]) < seqKeep {
			continue
		}
		total -= memBytes(r.state.Objects[k])
		r.state.Unload(k)
		delete(r.seqs.used, k)
		r.stats.seqUnloads.Add(1)
	}
	return total <= budget
}
