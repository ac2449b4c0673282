package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/numax/numax/internal/abi"
	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/opauth"
	"github.com/numax/numax/internal/store"
)

// Store layout (key spaces of package store):
//
//	CRDT:   [type][uvarint len][key][sub] -> one record of the object
//	                                     (objects.go)
//	Vector: 'a' + origin              -> applied seq (uvarint), written
//	                                     with every batch that moves it
//	        'l' + origin              -> (format 2, ignored since) lowest
//	                                     seq still in the op log
//	        'h' + origin              -> the origin's head at the applied
//	                                     seq (opauth.AppendHead; with TLS)
//	Meta:   "node_id", "hlc" (a bound above every stored timestamp),
//	        "crdt_format" (CRDTFormat),
//	        "cert/" + origin          -> the origin's certificate (DER)

var (
	metaNodeID = []byte("node_id")
	metaHLC    = []byte("hlc")
)

// hlcLease is how far ahead of the clock its stored bound is put: about
// 100 ms of wall time (the clock's low 16 bits count within a millisecond).
const hlcLease = 100 << 16

// The op log, (origin, seq) -> the op's encoding, or for the last op of a
// proved unit, the op with its head (LogValue), is the store's own, in
// segment files beside Pebble (store.Batch.Log). In format 2 it was the
// OpLog key space, [origin 32 bytes][seq BE] -> the same values, and the
// vector entry a floor under the origin's last log entry.

// storedVV is what the store says of the version vector and op log.
type storedVV struct {
	applied  map[string]uint64 // per origin: every seq up to it is applied
	logStart map[string]uint64 // per origin: lowest seq in the op log
	logCount int               // op log entries
}

// readVV reads the vector entries and what the op log holds of each
// origin, after cutting from the log (read-write) what the vector does
// not cover (store.ReconcileLog).
func readVV(st *store.Store) (storedVV, error) {
	vv := storedVV{applied: map[string]uint64{}, logStart: map[string]uint64{}}
	rows, err := st.Scan(store.Vector, store.ScanOptions{})
	if err != nil {
		return vv, err
	}
	for _, row := range rows {
		if len(row.Key) < 1 {
			return vv, &CorruptError{What: "version vector", Key: row.Key, Err: errors.New("empty key")}
		}
		if row.Key[0] == 'h' {
			continue // heads: loadAuth
		}
		v, n := binary.Uvarint(row.Value)
		origin := string(row.Key[1:])
		if n <= 0 || n != len(row.Value) || !abi.ValidNodeID(origin) {
			return vv, &CorruptError{What: "version vector", Key: row.Key, Err: errors.New("malformed entry")}
		}
		switch row.Key[0] {
		case 'a':
			vv.applied[origin] = max(vv.applied[origin], v)
		case 'l':
			// Format 2's log start: the log now says where it starts.
		default:
			return vv, &CorruptError{What: "version vector", Key: row.Key, Err: errors.New("unknown entry kind")}
		}
	}
	// The op log of each origin is one contiguous run of seqs; its
	// entries past the vector are commits that never reached Pebble.
	if !st.ReadOnly() {
		if _, err := st.ReconcileLog(vv.applied); err != nil {
			return vv, err
		}
	}
	for o, sp := range st.LogSpans() {
		vv.logStart[o] = sp.First
		vv.logCount += int(sp.Last - sp.First + 1)
	}
	return vv, nil
}

// ReadVV returns the version vector stored in st (for nx inspect).
func ReadVV(st *store.Store) (map[string]uint64, error) {
	if err := readableFormat(st); err != nil {
		return nil, err
	}
	vv, err := readVV(st)
	return vv.applied, err
}

// parseLogKey splits a format-2 op-log key.
func parseLogKey(k []byte) (origin string, seq uint64, ok bool) {
	if len(k) != 40 || !abi.ValidNodeID(k[:32]) {
		return "", 0, false
	}
	return string(k[:32]), binary.BigEndian.Uint64(k[32:]), true
}

func logKey(origin string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append(make([]byte, 0, len(origin)+8), origin...), seq)
}

func vvKey(origin string) []byte { return append([]byte{vvPrefix}, origin...) }

// vvPrefix starts a version-vector entry's key (store.Vector space).
const vvPrefix = 'a'

func headKey(origin string) []byte { return append([]byte{'h'}, origin...) }

const certPrefix = "cert/"

func certKey(origin string) []byte { return []byte(certPrefix + origin) }

func uvarint(v uint64) []byte { return binary.AppendUvarint(nil, v) }

// logWithHead marks an op-log entry that carries a head after the op (an
// op encoding starts with crdt.FormatVersion, never this).
const logWithHead = 0xFF

// LogValue is an op-log entry: the op's encoding, or, with a head (the
// last op of a unit its origin signed), logWithHead, the encoding's length
// (uvarint), the encoding and the head (opauth.AppendHead).
func LogValue(op *crdt.Op, h *opauth.Head) []byte { return AppendLogValue(nil, op, h) }

// AppendLogValue appends LogValue(op, h) to dst.
func AppendLogValue(dst []byte, op *crdt.Op, h *opauth.Head) []byte {
	if h == nil {
		return crdt.AppendOp(dst, op)
	}
	enc := crdt.AppendOp(nil, op)
	dst = binary.AppendUvarint(append(dst, logWithHead), uint64(len(enc)))
	return opauth.AppendHead(append(dst, enc...), h)
}

// DecodeLogValue decodes LogValue's form; the head is nil for an entry
// without one.
func DecodeLogValue(b []byte) (*crdt.Op, *opauth.Head, error) {
	if len(b) == 0 || b[0] != logWithHead {
		op, err := crdt.DecodeOp(b)
		return op, nil, err
	}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || n > uint64(len(b)-1-k) {
		return nil, nil, errors.New("op log entry: truncated")
	}
	enc := b[1+k : 1+k+int(n)]
	op, err := crdt.DecodeOp(enc)
	if err != nil {
		return nil, nil, err
	}
	h, err := opauth.DecodeHead(op.Origin, b[1+k+int(n):])
	if err != nil {
		return nil, nil, err
	}
	if h.Seq != op.Seq {
		return nil, nil, fmt.Errorf("op log entry %d@%s carries a head at %d", op.Seq, op.Origin, h.Seq)
	}
	return op, h, nil
}

// StoredNodeID returns the NodeId the datastore was written under ("" for
// a new one).
func StoredNodeID(st *store.Store) (string, error) {
	v, err := st.Get(store.Meta, metaNodeID)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	return string(v), err
}

// Seed writes obj under k into a datastore no replica has open, as though
// ops 1..seq of origin had made it (its state and the origin's vector
// entry) and a node had then closed (a large sequence's view, views.go):
// benchmarks build objects of millions of elements with it without
// writing them op by op.
func Seed(st *store.Store, k crdt.ObjKey, obj crdt.Object, origin string, seq uint64) error {
	if _, err := checkFormat(st); err != nil {
		return err
	}
	b := st.NewBatch()
	rewriteObject(b, k, obj)
	putView(b, k, obj, viewMinBytes)
	b.Set(store.Vector, vvKey(origin), uvarint(seq))
	_, err := st.Commit(b)
	return err
}

// SeedOps writes, into a datastore no replica has open, the records n ops
// make on object k, one op at a time (op(i) is the i-th, filled in with
// origin, its seq and an HLC), each applied to a fresh object of its own:
// for ops whose records do not depend on each other (an ORSet add, an
// LWW-Map set of a new field), so that benchmarks can build objects of
// millions of elements without holding one. The origin's vector entry
// becomes its last seq, which it returns.
func SeedOps(st *store.Store, k crdt.ObjKey, n int, op func(i int) *crdt.Op, origin string, seq uint64) (uint64, error) {
	if _, err := checkFormat(st); err != nil {
		return seq, err
	}
	b := st.NewBatch()
	for i := range n {
		seq++
		o := op(i)
		o.Origin, o.Seq, o.HLC, o.Key = origin, seq, 1<<40+seq, k.Key
		obj := crdt.New(k.Type)
		obj.Apply(o)
		putRecords(b, k, crdt.OpRecords(obj, o))
		if b.Len() >= 10_000 {
			if _, err := st.Commit(b); err != nil {
				return seq, err
			}
			b = st.NewBatch()
		}
	}
	b.Set(store.Vector, vvKey(origin), uvarint(seq))
	_, err := st.Commit(b)
	return seq, err
}

// ReadOpLog returns every op in st's op log (for nx inspect), origin by
// origin in seq order.
func ReadOpLog(st *store.Store) ([]*crdt.Op, error) {
	if err := readableFormat(st); err != nil {
		return nil, err
	}
	var ops []*crdt.Op
	for _, o := range slices.Sorted(maps.Keys(st.LogSpans())) {
		var failed error
		err := st.ReadLog(o, 0, ^uint64(0), func(seq uint64, v []byte) bool {
			op, _, err := DecodeLogValue(v)
			if err != nil {
				failed = &CorruptError{What: "op log", Key: logKey(o, seq), Err: err}
				return false
			}
			ops = append(ops, op)
			return true
		})
		if err = errors.Join(failed, err); err != nil {
			return nil, err
		}
	}
	return ops, nil
}
