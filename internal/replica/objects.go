package replica

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/store"
)

// CRDT objects are stored per element (crdt.Record):
//
//	CRDT: [type byte][uvarint len(key)][key][sub-key] -> record
//
// (format.go: the layouts before this one and their migration.)

// objPrefix is the prefix of every record of object k.
func objPrefix(k crdt.ObjKey) []byte { return appendObjPrefix(nil, k) }

func appendObjPrefix(b []byte, k crdt.ObjKey) []byte {
	b = binary.AppendUvarint(append(b, byte(k.Type)), uint64(len(k.Key)))
	return append(b, k.Key...)
}

// parseObjKey splits a record key into its object and sub-key.
func parseObjKey(key []byte) (crdt.ObjKey, []byte, bool) {
	if len(key) < 2 {
		return crdt.ObjKey{}, nil, false
	}
	n, w := binary.Uvarint(key[1:])
	if w <= 0 || n > uint64(len(key)-1-w) {
		return crdt.ObjKey{}, nil, false
	}
	k := crdt.ObjKey{Type: crdt.Type(key[0]), Key: string(key[1+w : 1+w+int(n)])}
	return k, key[1+w+int(n):], true
}

// putRecords adds records of object k to b (a nil value deletes).
func putRecords(b *store.Batch, k crdt.ObjKey, recs []crdt.Record) { put(b, k, recs, false) }

// putLatest is putRecords for records a later write replaces whole (a
// counter's, a register's): store.Batch.SetLatest.
func putLatest(b *store.Batch, k crdt.ObjKey, recs []crdt.Record) { put(b, k, recs, true) }

func put(b *store.Batch, k crdt.ObjKey, recs []crdt.Record, latest bool) {
	var kb [128]byte // the batch copies keys: most are built here, not on the heap
	prefix := appendObjPrefix(kb[:0], k)
	for _, rec := range recs {
		key := append(prefix, rec.Sub...) // over the last record's sub-key: the batch has copied it
		switch {
		case rec.Value == nil:
			b.Delete(store.CRDT, key)
		case latest:
			b.SetLatest(store.CRDT, key, rec.Value)
		default:
			b.Set(store.CRDT, key, rec.Value)
		}
	}
}

// rewriteObject replaces every record of object k with obj's.
func rewriteObject(b *store.Batch, k crdt.ObjKey, obj crdt.Object) {
	prefix := objPrefix(k)
	b.DeleteRange(store.CRDT, prefix, store.PrefixEnd(prefix))
	putRecords(b, k, crdt.Records(obj))
}

// LoadObject reads object k from a datastore no replica has open (nx
// inspect); nil if it was never written.
func LoadObject(st *store.Store, k crdt.ObjKey) (crdt.Object, error) {
	if err := readableFormat(st); err != nil {
		return nil, err
	}
	return readObject(st, k)
}

// readObject reads object k whole from its records; nil if it has none.
func readObject(st *store.Store, k crdt.ObjKey) (crdt.Object, error) {
	prefix := objPrefix(k)
	// Every record's sub-key and value go into one buffer (a sequence has
	// a record per element: no allocation per record); FromRecords copies
	// what it keeps.
	var buf []byte
	type at struct{ sub, val, end int }
	var ats []at
	err := st.Each(store.CRDT, prefix, nil, func(key, v []byte) bool {
		a := at{sub: len(buf)}
		buf = append(buf, key[len(prefix):]...)
		a.val = len(buf)
		buf = append(buf, v...)
		a.end = len(buf)
		ats = append(ats, a)
		return true
	})
	if err != nil || len(ats) == 0 {
		return nil, err
	}
	recs := make([]crdt.Record, len(ats))
	for i, a := range ats {
		recs[i] = crdt.Record{Sub: buf[a.sub:a.val:a.val], Value: buf[a.val:a.end:a.end]}
	}
	obj, err := crdt.FromRecords(k.Type, recs)
	if err != nil {
		return nil, &CorruptError{What: fmt.Sprintf("CRDT %s %q", k.Type, k.Key), Key: prefix, Err: err}
	}
	return obj, nil
}

// ListObjects calls f with every object's type and key, in order, from a
// datastore no replica has open (nx inspect).
func ListObjects(st *store.Store, f func(k crdt.ObjKey)) error {
	if err := readableFormat(st); err != nil {
		return err
	}
	rows, err := st.Scan(store.CRDT, store.ScanOptions{KeysOnly: true})
	if err != nil {
		return err
	}
	var last crdt.ObjKey
	for i, row := range rows {
		k, _, ok := parseObjKey(row.Key)
		if !ok {
			return &CorruptError{What: "CRDT", Key: row.Key, Err: errors.New("malformed key")}
		}
		if i == 0 || k != last {
			f(k)
		}
		last = k
	}
	return nil
}

// DefaultCRDTCache is the default bound on the memory of the map and set
// elements held in memory ([storage] crdt_cache).
const DefaultCRDTCache = 64 << 20

// backedType reports whether objects of type t are held backed by the
// store (their elements read on demand) rather than whole in memory.
func backedType(t crdt.Type) bool { return t == crdt.TypeLWWMap || t == crdt.TypeORSet }

// objBacking reads one object's records from the replica's store. It is
// used under r.mu; a read failure stops the replica (failed).
type objBacking struct {
	r      *Replica
	prefix []byte
}

func (b objBacking) fail(err error) {
	if b.r.failed == nil {
		b.r.failed = fmt.Errorf("replica: store read failed, restart the node: %w", err)
		b.r.log.Error("store read failed; replica stopped accepting changes", "err", err)
	}
}

func (b objBacking) Get(sub []byte) ([]byte, bool) {
	v, err := b.r.st.Get(store.CRDT, append(b.prefix[:len(b.prefix):len(b.prefix)], sub...))
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			b.fail(err)
		}
		return nil, false
	}
	return v, true
}

func (b objBacking) Each(after []byte, f func(sub, v []byte) bool) {
	var from []byte
	if after != nil {
		from = append(b.prefix[:len(b.prefix):len(b.prefix)], after...)
	}
	n := len(b.prefix)
	if err := b.r.st.Each(store.CRDT, b.prefix, from, func(k, v []byte) bool { return f(k[n:], v) }); err != nil {
		b.fail(err)
	}
}

// newObject makes the object for a key first written: maps and sets
// backed by the store, the others whole.
func (r *Replica) newObject(k crdt.ObjKey) crdt.Object {
	switch k.Type {
	case crdt.TypeLWWMap:
		return crdt.NewBackedLWWMap(objBacking{r, objPrefix(k)}, r.cache)
	case crdt.TypeORSet:
		return crdt.NewBackedORSet(objBacking{r, objPrefix(k)}, r.cache)
	}
	return crdt.New(k.Type)
}

// hydrateObjects makes every stored object: maps and sets backed (nothing
// of them read), RGAs and Texts noted as unloaded (read whole on first use,
// seqcache.go), counters and registers read. Objects are found by seeking
// from one to the next, so a restart costs a seek per object, not a read
// of every element.
func (r *Replica) hydrateObjects() error {
	from := []byte{}
	for {
		key, ok, err := r.st.Seek(store.CRDT, from)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		k, _, ok := parseObjKey(key)
		if !ok {
			return &CorruptError{What: "CRDT", Key: key, Err: errors.New("malformed key")}
		}
		prefix := objPrefix(k)
		switch {
		case backedType(k.Type):
			r.state.Objects[k] = r.newObject(k)
		case seqType(k.Type):
			r.state.Unloaded[k] = true
		default:
			obj, err := LoadObject(r.st, k)
			if err != nil {
				return err
			}
			r.state.Objects[k] = obj
		}
		if from = store.PrefixEnd(prefix); from == nil {
			return nil
		}
	}
}

// trim evicts resident map and set elements once they and the sequences
// in memory take more than the cache allows, down to three quarters of it
// (r.mu held, after a commit: nothing is dirty); sequences go first, least
// recently used first (seqcache.go).
func (r *Replica) trim() {
	if r.cache.Used+r.seqs.total <= r.cfg.CRDTCache {
		return
	}
	if r.seqs.total > 0 && r.unloadSeqs(r.cfg.CRDTCache*3/4-r.cache.Used) {
		return
	}
	for _, obj := range r.state.Objects {
		if res, ok := obj.(crdt.Resident); ok && res.ResidentBytes() > 0 {
			res.Evict()
			if r.cache.Used <= r.cfg.CRDTCache*3/4 {
				return
			}
		}
	}
}
