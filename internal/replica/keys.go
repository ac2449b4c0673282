package replica

import (
	"encoding/binary"
	"errors"

	"github.com/numax/numax/internal/abi"
	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/store"
)

// Store layout (key spaces of package store):
//
//	CRDT:   [type byte][key]          -> canonical object encoding
//	OpLog:  [origin 32 bytes][seq BE] -> op encoding
//	Vector: 'a' + origin              -> applied seq (uvarint), a floor:
//	                                     the origin's last log entry, if
//	                                     higher, is the applied seq
//	        'l' + origin              -> lowest seq still in the op log
//	Meta:   "node_id", "hlc" (a bound above every stored timestamp)

var (
	metaNodeID = []byte("node_id")
	metaHLC    = []byte("hlc")
)

// hlcLease is how far ahead of the clock its stored bound is put: about
// 100 ms of wall time (the clock's low 16 bits count within a millisecond).
const hlcLease = 100 << 16

// storedVV is what the store says of the version vector and op log.
type storedVV struct {
	applied  map[string]uint64 // per origin: every seq up to it is applied
	logStart map[string]uint64 // per origin: lowest seq in the op log
	logCount int               // op log entries
}

// readVV reads the vector entries and the op-log keys: an origin's applied
// seq is the larger of its vector entry and its last log entry.
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
		v, n := binary.Uvarint(row.Value)
		origin := string(row.Key[1:])
		if n <= 0 || n != len(row.Value) || !abi.ValidNodeID([]byte(origin)) {
			return vv, &CorruptError{What: "version vector", Key: row.Key, Err: errors.New("malformed entry")}
		}
		switch row.Key[0] {
		case 'a':
			vv.applied[origin] = max(vv.applied[origin], v)
		case 'l':
			vv.logStart[origin] = v
		default:
			return vv, &CorruptError{What: "version vector", Key: row.Key, Err: errors.New("unknown entry kind")}
		}
	}
	// The op log of each origin is one contiguous run of sequence numbers
	// (appended in order, pruned from the front): two seeks per origin give
	// its ends, without reading the log (a restart after millions of ops
	// costs what one after a few does).
	from := []byte{}
	for {
		first, last, ok, err := st.Bounds(store.OpLog, from, abi.NodeIDLen)
		if err != nil {
			return vv, err
		}
		if !ok {
			break
		}
		origin, lo, ok1 := parseLogKey(first)
		_, hi, ok2 := parseLogKey(last)
		if !ok1 || !ok2 || hi < lo {
			return vv, &CorruptError{What: "op log", Key: first, Err: errors.New("malformed key")}
		}
		vv.applied[origin] = max(vv.applied[origin], hi)
		vv.logCount += int(hi - lo + 1)
		if from = store.PrefixEnd([]byte(origin)); from == nil {
			break
		}
	}
	return vv, nil
}

// ReadVV returns the version vector stored in st (for nx inspect).
func ReadVV(st *store.Store) (map[string]uint64, error) {
	vv, err := readVV(st)
	return vv.applied, err
}

func parseLogKey(k []byte) (origin string, seq uint64, ok bool) {
	if len(k) != 40 || !abi.ValidNodeID(k[:32]) {
		return "", 0, false
	}
	return string(k[:32]), binary.BigEndian.Uint64(k[32:]), true
}

func objStoreKey(k crdt.ObjKey) []byte {
	return append([]byte{byte(k.Type)}, k.Key...)
}

func logKey(origin string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(origin), seq)
}

func vvKey(origin string) []byte    { return append([]byte{'a'}, origin...) }
func startKey(origin string) []byte { return append([]byte{'l'}, origin...) }

func uvarint(v uint64) []byte { return binary.AppendUvarint(nil, v) }
