package replica

import (
	"slices"
	"time"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/store"
)

// RGAs and Texts are held whole while in use and unloaded past the cache
// (docs/crdt.md, "Objects of any size"): hydration reads none of them; the
// first Get reads one whole from its records (loadSeq); after a commit, if
// the map and set elements in memory and the sequences together pass
// [storage] crdt_cache, the least recently used sequences are unloaded
// (State.Unload) until three quarters of it is left, also on the
// collection timer, so an idle node lets them go too. A sequence used in
// the last second stays (a document larger than the cache is kept while it
// is edited, not read again whole for every keystroke); one whose deletes
// wait for collection goes last, and leaves its epochs (gc.go) when it
// goes: its deletes are queued again when it is read again. An unloaded sequence is in the store whole (every change to
// one is committed with its records before trim runs), so unloading loses
// nothing; when it is read again its deletes are queued for collection
// again, as at a start.

// seqType reports whether objects of type t are held whole while in use
// and unloaded past the cache.
func seqType(t crdt.Type) bool { return t == crdt.TypeRGA || t == crdt.TypeText }

// seqKeep is how long a sequence stays in memory after its last use,
// whatever the cache; seqRetry is how often, at most, an unload pass runs
// while the cache stays full of sequences in use.
const (
	seqKeep  = time.Second
	seqRetry = 100 * time.Millisecond
)

// seqCache tracks the sequences in memory: their last use and their size
// when last used (guarded by Replica.mu), and the sum of those sizes.
type seqCache struct {
	used    map[crdt.ObjKey]*seqUse
	total   int64
	lastTry time.Time
}

type seqUse struct {
	// at is when an unload pass last found the sequence used since the
	// pass before (used): a use reads no clock (a write's path reads it
	// enough), and a sequence is taken as used no earlier than it was.
	at    time.Time
	used  bool
	bytes int64
}

func newSeqCache() *seqCache { return &seqCache{used: map[crdt.ObjKey]*seqUse{}} }

// touch notes a use of object k, obj in memory (after any change to it):
// for a sequence, its time and size.
func (c *seqCache) touch(k crdt.ObjKey, obj crdt.Object) {
	if !seqType(k.Type) || obj == nil {
		return
	}
	c.touchBytes(k, memBytes(obj))
}

// touchBytes notes a use of sequence k (or its view), which takes n bytes.
func (c *seqCache) touchBytes(k crdt.ObjKey, n int64) {
	u := c.used[k]
	if u == nil {
		u = &seqUse{}
		c.used[k] = u
	}
	c.total += n - u.bytes
	u.used, u.bytes = true, n
}

// drop forgets sequence k (unloaded).
func (c *seqCache) drop(k crdt.ObjKey) {
	if u := c.used[k]; u != nil {
		c.total -= u.bytes
		delete(c.used, k)
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
	r.viewLoaded(k)
	r.seqs.touch(k, obj)
	r.stats.seqLoads.Add(1)
	r.queueTombstones(k, obj, true)
}

// unloadSeqs unloads the least recently used sequences not used in the
// last seqKeep — first those with no deletes waiting for collection, then,
// if still needed, those with some — until the ones left take at most
// budget bytes, and reports whether it got there (r.mu held, after a
// commit). While the sequences in use fill the cache, a pass runs at most
// every seqRetry. A sequence unloaded with deletes waiting leaves its
// epochs (they hold marks in its delete log); its deletes are queued again
// when it is next read (seqLoaded), so they are collected later, not lost.
func (r *Replica) unloadSeqs(budget int64) bool {
	c := r.seqs
	if c.total <= budget {
		return true
	}
	now := time.Now()
	if now.Sub(c.lastTry) < seqRetry {
		return false
	}
	c.lastTry = now
	for _, u := range c.used {
		if u.used {
			u.at, u.used = now, false
		}
	}
	waiting := map[crdt.ObjKey]bool{}
	for _, e := range r.gc.epochs {
		for k := range e.dels {
			waiting[k] = true
		}
	}
	keys := make([]crdt.ObjKey, 0, len(c.used))
	for k, u := range c.used {
		if now.Sub(u.at) >= seqKeep {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b crdt.ObjKey) int {
		if waiting[a] != waiting[b] {
			if waiting[b] {
				return -1
			}
			return 1
		}
		return c.used[a].at.Compare(c.used[b].at)
	})
	// The views of the sequences unloaded; while the store refuses writes,
	// sequences go without one and views written through stay.
	var b *store.Batch
	writable := r.viewsWritable()
	defer func() {
		if b != nil {
			r.commitViews(b)
		}
	}()
	for _, k := range keys {
		if c.total <= budget {
			break
		}
		if b == nil && writable {
			b = r.st.NewBatch()
		}
		if ov := r.views.open[k]; ov != nil { // a view, the sequence not in memory
			if !ov.stored {
				if !writable {
					continue
				}
				r.flushView(b, k, ov)
			}
			delete(r.views.open, k)
			c.drop(k)
			continue
		}
		if obj := r.state.Objects[k]; obj != nil && writable {
			r.saveView(b, k, obj)
		}
		if waiting[k] {
			for _, e := range r.gc.epochs {
				delete(e.dels, k)
			}
		}
		r.state.Unload(k)
		c.drop(k)
		r.stats.seqUnloads.Add(1)
	}
	return c.total <= budget
}
