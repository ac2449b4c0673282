package replica

import (
	"cmp"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/seqview"
	"github.com/numax/numax/internal/store"
)

// Views of large sequences (internal/seqview; docs/crdt.md, "Objects of
// any size"). An RGA or a Text of at least viewMinBytes in memory leaves a
// view in the store's View space when it is unloaded or the node closes:
// its visible content in order, in chunks. While the sequence is not in
// memory, the view answers its length and pages, and takes the local edits
// it can place alone — text inserted or deleted at a position; an RGA
// value inserted at the head, or after or of an element in a chunk it
// holds (the last, or one just edited: a log appended to); an insert newer
// than everything in the sequence — by writing their records and changing
// its chunks, without reading the sequence whole. Anything else (a remote
// op, an RGA element the view does not hold, a whole read) reads the
// sequence whole as before, and the view is deleted before the sequence
// changes.
//
// The sequence's records stay the truth; a view must never say otherwise:
//   - a stored view is valid while its directory exists. A write through
//     the view deletes the directory in its own batch (the changed chunks
//     stay in memory until the view is flushed: idle for seqKeep, at
//     unload, at Close), so a crash leaves no directory, and the sequence
//     is read whole at its next use;
//   - a sequence read whole schedules its view's deletion with the next
//     commit (views.drop), which comes before or with its first change;
//   - a view that cannot be read is logged and dropped, and the sequence is
//     read whole.

// viewMinBytes is the memory (crdt.Text.MemBytes, crdt.RGA.MemBytes) from
// which a sequence leaves a view: about 13,000 RGA elements or 21,000 Text
// runs, which take some 30 ms to read whole. Smaller ones are read whole.
const viewMinBytes = 4 << 20

// viewSet holds the views read (guarded by Replica.mu).
type viewSet struct {
	open map[crdt.ObjKey]*openView
	// none: sequences with no stored view (or none readable); drop: views
	// to delete with the next commit.
	none map[crdt.ObjKey]bool
	drop map[crdt.ObjKey]bool
	// collected: when each sequence was last read whole for collection.
	collected map[crdt.ObjKey]time.Time
}

type openView struct {
	v *seqview.View
	// stored: the directory in the store is this view's (no write through
	// the view since it was read or flushed).
	stored bool
	used   time.Time
}

func newViewSet() viewSet {
	return viewSet{open: map[crdt.ObjKey]*openView{}, none: map[crdt.ObjKey]bool{}, drop: map[crdt.ObjKey]bool{},
		collected: map[crdt.ObjKey]time.Time{}}
}

func viewKey(k crdt.ObjKey, sub []byte) []byte { return append(objPrefix(k), sub...) }

// view returns the view of sequence k if k is stored, not in memory, and
// has a readable view; else nil (r.mu held).
func (r *Replica) view(k crdt.ObjKey) *openView {
	if !seqType(k.Type) || !r.state.Unloaded[k] || r.state.Objects[k] != nil {
		return nil
	}
	if ov := r.views.open[k]; ov != nil {
		return ov
	}
	if r.views.none[k] {
		return nil
	}
	dir, err := r.st.Get(store.View, viewKey(k, seqview.DirSub))
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			r.log.Warn("sequence view unreadable; the sequence is read whole", "type", k.Type, "key", k.Key, "err", err)
		}
		r.views.none[k] = true
		return nil
	}
	v, err := seqview.Decode(k.Type, dir, func(id uint64) ([]byte, error) {
		return r.st.Get(store.View, viewKey(k, seqview.ChunkSub(id)))
	})
	if err != nil {
		r.viewFailed(k, err)
		return nil
	}
	ov := &openView{v: v, stored: true, used: time.Now()}
	r.views.open[k] = ov
	return ov
}

// viewFailed drops k's view after err reading it: logged, deleted with the
// next commit; the sequence is read whole from now on (r.mu held).
func (r *Replica) viewFailed(k crdt.ObjKey, err error) {
	r.log.Warn("sequence view unreadable; the sequence is read whole", "type", k.Type, "key", k.Key, "err", err)
	delete(r.views.open, k)
	r.views.none[k] = true
	r.views.drop[k] = true
	r.seqs.drop(k)
}

// viewLoaded notes that sequence k was read whole: its view goes, deleted
// from the store with the next commit if one is stored (r.mu held).
func (r *Replica) viewLoaded(k crdt.ObjKey) {
	if ov := r.views.open[k]; ov != nil {
		delete(r.views.open, k)
		if ov.stored {
			r.views.drop[k] = true
		}
		return
	}
	if r.views.none[k] {
		return
	}
	if ok, err := r.st.Exists(store.View, viewKey(k, seqview.DirSub)); ok || err != nil {
		r.views.drop[k] = true
	}
	r.views.none[k] = true
}

// addViewDrops adds to b the deletion of the views scheduled to go (r.mu
// held, before b commits).
func (r *Replica) addViewDrops(b *store.Batch) {
	for k := range r.views.drop {
		p := objPrefix(k)
		b.DeleteRange(store.View, p, store.PrefixEnd(p))
		delete(r.views.drop, k)
	}
}

// saveView adds to b the view of sequence k, in memory as obj, if it is
// large enough to want one (r.mu held; k's records are all stored).
func (r *Replica) saveView(b *store.Batch, k crdt.ObjKey, obj crdt.Object) {
	if putView(b, k, obj, cmp.Or(r.cfg.viewMin, viewMinBytes)) {
		delete(r.views.drop, k)
		delete(r.views.none, k)
	}
}

// putView adds to b the view of sequence k, obj, in place of any stored,
// if obj takes at least minBytes; it reports whether it did.
func putView(b *store.Batch, k crdt.ObjKey, obj crdt.Object, minBytes int64) bool {
	if memBytes(obj) < minBytes {
		return false
	}
	v := buildView(obj)
	if v == nil {
		return false
	}
	p := objPrefix(k)
	b.DeleteRange(store.View, p, store.PrefixEnd(p))
	v.Flush(func(sub, val []byte) { b.Set(store.View, viewKey(k, sub), val) }, func([]byte) {})
	return true
}

// buildView makes the view of a Text or an RGA; the deletes it holds that
// wait for collection count as deleted through the view.
func buildView(obj crdt.Object) *seqview.View {
	var v *seqview.View
	switch o := obj.(type) {
	case *crdt.Text:
		v = seqview.Build(crdt.TypeText, crdt.MaxHLC(o), func(yield func(seqview.Entry) bool) {
			o.EachPiece(func(run crdt.OpID, off uint64, text []rune) bool {
				return yield(seqview.Entry{ID: run, Off: off, N: uint64(len(text)), Val: []byte(string(text))})
			})
		})
	case *crdt.RGA:
		v = seqview.Build(crdt.TypeRGA, crdt.MaxHLC(o), func(yield func(seqview.Entry) bool) {
			o.EachVisible(func(id crdt.OpID, v []byte) bool {
				return yield(seqview.Entry{ID: id, N: 1, Val: v})
			})
		})
	default:
		return nil
	}
	if d, ok := obj.(delLogger); ok {
		v.SetDeleted(uint64(d.DelsWaiting()))
	}
	return v
}

// viewCollectMin is the least number of elements deleted through a view
// that has its sequence read whole for collection (collectViews); a
// larger sequence waits for an eighth of its length. viewCollectEvery is
// how often, at most, one sequence is read for it (its deletes may wait
// for a member away: it would be read again and again for nothing).
const (
	viewCollectMin   = 4096
	viewCollectEvery = 10 * time.Minute
)

// collectViews reads whole, for collection, the sequences idle for seqKeep
// whose views took many deletes: their tombstones wait until the sequence
// is in memory (r.mu held; the collection timer).
func (r *Replica) collectViews() {
	now := time.Now()
	for k, ov := range r.views.open {
		if d := ov.v.Deleted(); d >= max(viewCollectMin, ov.v.Len()/8) && now.Sub(ov.used) >= seqKeep &&
			now.Sub(r.views.collected[k]) >= viewCollectEvery {
			r.views.collected[k] = now
			r.log.Info("reading a sequence whole to collect the deletes made through its view", "type", k.Type, "key", k.Key, "deleted", d)
			r.state.Get(k)
		}
	}
}

// flushView adds to b what changed in k's open view and lets its chunks go
// from memory (r.mu held).
func (r *Replica) flushView(b *store.Batch, k crdt.ObjKey, ov *openView) {
	ov.v.Flush(func(sub, val []byte) { b.Set(store.View, viewKey(k, sub), val) },
		func(sub []byte) { b.Delete(store.View, viewKey(k, sub)) })
	ov.stored = true
	ov.v.Release()
}

// flushIdleViews writes the views written through and idle for seqKeep,
// so that a crash later finds them (r.mu held; the collection timer).
func (r *Replica) flushIdleViews() {
	if !r.viewsWritable() {
		return
	}
	var b *store.Batch
	now := time.Now()
	for k, ov := range r.views.open {
		if !ov.stored && now.Sub(ov.used) >= seqKeep {
			if b == nil {
				b = r.st.NewBatch()
			}
			r.flushView(b, k, ov)
			r.seqs.touchBytes(k, ov.v.MemBytes())
		}
	}
	if b != nil {
		r.commitViews(b)
	}
}

// viewsWritable reports whether views may be written now: not while the
// store refuses writes (a full disk: views wait in memory until it clears)
// or the replica has failed (r.mu held).
func (r *Replica) viewsWritable() bool {
	return r.failed == nil && r.st.CheckWritable() == nil
}

// commitViews commits a batch of view writes (r.mu held). A store that
// fails to write them fails the replica as any write does; the views read
// go too (those flushed in b count their chunks as stored: read again,
// they would not be), so the sequences are read whole from their records.
func (r *Replica) commitViews(b *store.Batch) {
	if r.failed != nil {
		b.Discard()
		return
	}
	if _, err := r.st.CommitUnchecked(b); err != nil {
		for k := range r.views.open {
			delete(r.views.open, k)
			r.views.none[k] = true
			r.views.drop[k] = true
			r.seqs.drop(k)
		}
		r.failed = fmt.Errorf("replica: store write failed, restart the node: %w", err)
		r.log.Error("store write failed; replica stopped accepting changes", "err", err)
	}
}

// saveViews writes, at Close, the views written through and those of
// large sequences in memory, so the next start reads neither whole.
func (r *Replica) saveViews() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.viewsWritable() {
		return
	}
	b := r.st.NewBatch()
	for k, ov := range r.views.open {
		if !ov.stored {
			r.flushView(b, k, ov)
		}
	}
	for k, obj := range r.state.Objects {
		if seqType(k.Type) {
			r.saveView(b, k, obj)
		}
	}
	r.addViewDrops(b)
	if b.Len() == 0 {
		b.Discard()
		return
	}
	r.commitViews(b)
}

// deferrable returns the view that can take local op op on k without the
// sequence in memory, or nil (r.mu held).
func (r *Replica) deferrable(k crdt.ObjKey, op *crdt.Op) *openView {
	switch {
	case op.Kind == crdt.TextInsert && op.At != nil, op.Kind == crdt.TextDelete && op.At != nil:
	case op.Kind == crdt.RGAInsert, op.Kind == crdt.RGADelete && !op.Ref.IsZero():
	default:
		return nil
	}
	return r.view(k)
}

// placeInView resolves local op op on sequence k through its view v: where
// the edit lands (index), how many elements it covers, and the records it
// changes besides a new insert's (a delete's run or element records read
// and updated). err is the op's own error (a position past the end, a
// delete of nothing); ok is false when the view cannot place it (nothing
// changed: the caller reads the sequence whole).
func (r *Replica) placeInView(k crdt.ObjKey, v *seqview.View, op *crdt.Op) (index, count uint64, recs []crdt.Record, _ error, ok bool) {
	switch op.Kind {
	case crdt.TextInsert:
		index = op.At.Index
		if index > v.Len() {
			return 0, 0, nil, fmt.Errorf("%w: index %d past the end (length %d)", ErrRange, index, v.Len()), true
		}
		if index > 0 {
			run, off, err := v.At(index - 1)
			if err != nil {
				r.viewFailed(k, err)
				return 0, 0, nil, nil, false
			}
			op.Ref, op.Delta = run, off
		}
		count = uint64(utf8.RuneCount(op.Value))
	case crdt.TextDelete:
		index = op.At.Index
		ranges, covered, err := v.Ranges(index, op.At.Count, crdt.MaxTextRanges)
		if err != nil {
			if index > v.Len() || op.At.Count > v.Len()-index {
				return 0, 0, nil, fmt.Errorf("%w: %v", ErrRange, err), true
			}
			r.viewFailed(k, err)
			return 0, 0, nil, nil, false
		}
		if covered == 0 {
			return 0, 0, nil, ErrNoop, true
		}
		// The runs' records, with these spans deleted.
		for i, rg := range ranges {
			if seenRun(ranges[:i], rg.Run) {
				continue
			}
			sub := crdt.TextRunSub(rg.Run)
			val, err := r.st.Get(store.CRDT, append(objPrefix(k), sub...))
			if err == nil {
				var rec crdt.Record
				if rec, err = crdt.AddTextDeletes(rg.Run, val, ranges); err == nil {
					recs = append(recs, rec)
					continue
				}
			}
			r.viewFailed(k, fmt.Errorf("run %s of the view: %w", rg.Run, err))
			return 0, 0, nil, nil, false
		}
		op.SetTextRanges(ranges)
		op.At.Count, count = covered, covered
	case crdt.RGAInsert, crdt.RGADelete:
		count = 1
		if op.Ref.IsZero() {
			break
		}
		// After, or of, an element the view holds in memory (the last
		// chunk, or one just edited); anywhere else the RGA is read whole.
		at, found, err := v.Find(op.Ref)
		if err != nil {
			r.viewFailed(k, err)
		}
		if !found {
			return 0, 0, nil, nil, false
		}
		index = at + 1
		if op.Kind == crdt.RGADelete {
			index = at
			sub := crdt.RGAElemSub(op.Ref)
			val, err := r.st.Get(store.CRDT, append(objPrefix(k), sub...))
			if err == nil {
				val, err = crdt.RGADeletedRecord(val)
			}
			if err != nil {
				r.viewFailed(k, fmt.Errorf("element %s of the view: %w", op.Ref, err))
				return 0, 0, nil, nil, false
			}
			recs = append(recs, crdt.Record{Sub: sub, Value: val})
		}
	}
	return index, count, recs, nil, true
}

// writeView writes local op op on sequence k through its view ov (r.mu
// held, write's checks done). ok is false when the view cannot place it
// (its parent newer than this node's clock, a chunk unreadable): nothing
// changed, and the caller reads the sequence whole and writes it so.
func (r *Replica) writeView(k crdt.ObjKey, ov *openView, op *crdt.Op, accept func(crdt.OpID) bool) (_ crdt.OpID, over bool, _ error, ok bool) {
	v := ov.v
	index, count, recs, err, ok := r.placeInView(k, v, op)
	if err != nil || !ok {
		return crdt.OpID{}, false, err, ok
	}
	// The chunk the edit lands in is read before anything changes.
	if err := v.Touch(index); err != nil {
		r.viewFailed(k, err)
		return crdt.OpID{}, false, nil, false
	}
	if err := r.stamp(op, accept); err != nil {
		return crdt.OpID{}, false, err, true
	}
	// An insert lands right after its parent, ahead of every sibling, only
	// if it is newer than all of them: the clock is past everything in the
	// sequence (it is, unless a peer's clock ran ahead). If not, the op is
	// stamped again on the whole sequence (nothing changed yet).
	if op.Kind != crdt.TextDelete && op.Kind != crdt.RGADelete && op.HLC <= v.MaxHLC() {
		return crdt.OpID{}, false, nil, false
	}
	if !r.state.Skip(op) {
		return crdt.OpID{}, false, fmt.Errorf("replica: local op %s is not its origin's next", op.ID()), true
	}
	if op.Kind == crdt.TextDelete || op.Kind == crdt.RGADelete {
		err = v.Delete(index, count)
	} else {
		rec, _ := crdt.InsertRecord(op)
		recs = append(recs, rec)
		err = v.Insert(index, seqview.Entry{ID: op.ID(), N: count, Val: op.Value}, op.HLC)
	}
	b := r.st.NewBatch()
	if err != nil { // the chunk was read above: not expected
		r.viewFailed(k, err)
	} else {
		if ov.stored {
			b.Delete(store.View, viewKey(k, seqview.DirSub))
			ov.stored = false
		}
		ov.used = time.Now()
		r.seqs.touchBytes(k, v.MemBytes())
	}
	chain := r.persistOwn(b, op)
	putRecords(b, k, recs)
	r.persistLog(b, []*crdt.Op{op}, nil)
	id, over, err := r.commitOwn(b, op, chain)
	if err == nil {
		r.stats.viewWrites.Add(1)
	}
	return id, over, err, true
}

func seenRun(rs []crdt.TextRange, run crdt.OpID) bool {
	for _, r := range rs {
		if r.Run == run {
			return true
		}
	}
	return false
}

// ---- reads ----

// TextLen returns the visible length of Text key (0 if absent).
func (r *Replica) TextLen(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := crdt.ObjKey{Type: crdt.TypeText, Key: key}
	if ov := r.view(k); ov != nil {
		ov.used = time.Now()
		return int(ov.v.Len())
	}
	t, _ := r.state.Get(k).(*crdt.Text)
	if t == nil {
		return 0
	}
	r.seqs.touch(k, t)
	return t.Len()
}

// SliceText returns the visible characters [from, from+count) of Text key
// (count clamped to the end); from past the end is an error.
func (r *Replica) SliceText(key string, from, count uint64) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := crdt.ObjKey{Type: crdt.TypeText, Key: key}
	if ov := r.view(k); ov != nil {
		s, err := ov.v.Text(from, count)
		if err == nil || from > ov.v.Len() {
			ov.used = time.Now()
			r.seqs.touchBytes(k, ov.v.MemBytes())
			return s, err
		}
		r.viewFailed(k, err)
	}
	t, _ := r.state.Get(k).(*crdt.Text)
	if t == nil {
		t = crdt.New(crdt.TypeText).(*crdt.Text)
	} else {
		r.seqs.touch(k, t)
	}
	return t.Slice(from, count)
}
