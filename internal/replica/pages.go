package replica

import (
	"time"

	"github.com/numax/numax/internal/abi"
	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/store"
)

// Paged readers (crdt_lww_map_scan, crdt_orset_scan, crdt_rga_slice):
// maps and sets are read from their per-element records in the store,
// which are sorted by field or element, so a page costs a seek and its own
// rows whatever the object's size. They read under the replica's lock, so
// a page never shows half of a write.

// scanStep is how many records a set scan reads at a time while skipping
// removed elements.
const scanStep = 256

// ScanMap returns up to limit present fields of the LWW-Map key strictly
// after field after (empty: from the first), in field order.
func (r *Replica) ScanMap(key string, after []byte, limit int) ([]abi.Row, error) {
	var out []abi.Row
	err := r.scanRecords(crdt.ObjKey{Type: crdt.TypeLWWMap, Key: key}, after, limit, func(sub, v []byte) (bool, error) {
		value, removed, err := crdt.MapRecordValue(v)
		if err != nil || removed {
			return false, err
		}
		out = append(out, abi.Row{Key: sub, Value: value})
		return true, nil
	})
	return out, err
}

// ScanSet returns up to limit present elements of the ORSet key strictly
// after element after, in element order.
func (r *Replica) ScanSet(key string, after []byte, limit int) ([][]byte, error) {
	var out [][]byte
	err := r.scanRecords(crdt.ObjKey{Type: crdt.TypeORSet, Key: key}, after, limit, func(sub, v []byte) (bool, error) {
		present, err := crdt.SetRecordPresent(v)
		if err != nil || !present {
			return false, err
		}
		out = append(out, sub)
		return true, nil
	})
	return out, err
}

// scanRecords calls take with the records of k after after, in order,
// until take has accepted limit of them or they run out.
func (r *Replica) scanRecords(k crdt.ObjKey, after []byte, limit int, take func(sub, v []byte) (bool, error)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	prefix := objPrefix(k)
	cursor := append(prefix[:len(prefix):len(prefix)], after...)
	if len(after) == 0 {
		cursor = nil
	}
	for taken := 0; taken < limit; {
		rows, err := r.st.Scan(store.CRDT, store.ScanOptions{Prefix: prefix, After: cursor, Limit: max(scanStep, limit-taken)})
		if err != nil {
			return err
		}
		for _, row := range rows {
			ok, err := take(row.Key[len(prefix):], row.Value)
			if err != nil {
				return &CorruptError{What: "CRDT " + k.Type.String() + " " + k.Key, Key: row.Key, Err: err}
			}
			if ok {
				if taken++; taken == limit {
					return nil
				}
			}
		}
		if len(rows) < max(scanStep, limit-taken) {
			return nil
		}
		cursor = rows[len(rows)-1].Key
	}
	return nil
}

// SliceRGA returns the values of the visible elements [from, from+count)
// of the RGA key.
func (r *Replica) SliceRGA(key string, from, count uint64) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := crdt.ObjKey{Type: crdt.TypeRGA, Key: key}
	if ov := r.view(k); ov != nil {
		vals, err := ov.v.Values(from, count)
		if err == nil {
			ov.used = time.Now()
			r.seqs.touchBytes(k, ov.v.MemBytes())
			return vals
		}
		r.viewFailed(k, err)
	}
	l, _ := r.state.Get(k).(*crdt.RGA)
	if l == nil {
		return nil
	}
	r.seqs.touch(k, l)
	return l.Slice(from, count)
}
