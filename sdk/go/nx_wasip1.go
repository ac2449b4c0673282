//go:build wasip1

package nx

import (
	"iter"
	"strings"
	"time"
	"unsafe"

	"github.com/numax/numax/internal/abi"
)

// maxOutput is the largest buffer the SDK grows to (the default out_cap limit).
const maxOutput = abi.DefaultMaxOutput

// code turns a host result into an error (nil for success values).
func code(r int32) error {
	if r >= 0 {
		return nil
	}
	return Error(r)
}

// Grow calls f with a buffer that starts at initial bytes and doubles on
// ERR_BUFFER_TOO_SMALL up to the output limit, and returns the bytes written.
// f receives the buffer's address and capacity and returns the host's code.
func Grow(initial int, f func(p unsafe.Pointer, n uint32) int32) ([]byte, error) {
	return read(initial, f)
}

// Code turns a host result into an error: nil for values >= 0, else Error.
func Code(r int32) error { return code(r) }

// Ptr returns the address of b's first byte for a raw host call.
func Ptr(b []byte) unsafe.Pointer { return ptr(b) }

// StrPtr returns the address of s's first byte for a raw host call.
func StrPtr(s string) unsafe.Pointer { return sptr(s) }

// GrowList is Grow for outputs in the list encoding (count, then len+bytes
// per item), decoded.
func GrowList(initial int, f func(p unsafe.Pointer, n uint32) int32) ([][]byte, error) {
	b, err := read(initial, f)
	if err != nil {
		return nil, err
	}
	return decodeKeys(b)
}

// GrowPairs is Grow for outputs in the pairs encoding (count, then
// len+key, len+value per item), decoded.
func GrowPairs(initial int, f func(p unsafe.Pointer, n uint32) int32) ([]KV, error) {
	b, err := read(initial, f)
	if err != nil {
		return nil, err
	}
	pairs, derr := abi.DecodePairs(b)
	if derr != nil {
		return nil, ErrInternal
	}
	kvs := make([]KV, len(pairs))
	for i, p := range pairs {
		kvs[i] = KV{Key: p.Key, Value: p.Value}
	}
	return kvs, nil
}

func read(initial int, f func(p unsafe.Pointer, n uint32) int32) ([]byte, error) {
	size := initial
	for {
		buf := make([]byte, size)
		r := f(ptr(buf), uint32(size))
		if r >= 0 {
			return buf[:r], nil
		}
		if r == abi.ErrBufferTooSmall && size < maxOutput {
			size = min(size*2, maxOutput)
			continue
		}
		return nil, Error(r)
	}
}

// Log writes msg at level through the node's structured logger.
func Log(level Level, msg string) { hostLogV2(int32(level), sptr(msg), uint32(len(msg))) }

// Trace logs at trace level.
func Trace(msg string) { Log(LevelTrace, msg) }

// Debug logs at debug level.
func Debug(msg string) { Log(LevelDebug, msg) }

// Info logs at info level.
func Info(msg string) { Log(LevelInfo, msg) }

// Warn logs at warn level.
func Warn(msg string) { Log(LevelWarn, msg) }

// LogError logs at error level.
func LogError(msg string) { Log(LevelError, msg) }

// LogLegacy logs one line at info level through the legacy host_log.
func LogLegacy(msg string) { hostLog(sptr(msg), uint32(len(msg))) }

// Get returns the value of key in the local store, or ErrNotFound.
func Get(key []byte) ([]byte, error) {
	return read(256, func(p unsafe.Pointer, n uint32) int32 {
		return dbGet(ptr(key), uint32(len(key)), p, n)
	})
}

// Set writes key = value in the local store.
func Set(key, value []byte) error {
	return code(dbSet(ptr(key), uint32(len(key)), ptr(value), uint32(len(value))))
}

// Delete removes key (absent keys are not an error).
func Delete(key []byte) error { return code(dbDelete(ptr(key), uint32(len(key)))) }

// Exists reports whether key is present.
func Exists(key []byte) (bool, error) {
	r := dbExists(ptr(key), uint32(len(key)))
	return r == 1, code(r)
}

func decodeKV(b []byte) ([]KV, error) {
	rows, err := abi.DecodeRows(b)
	if err != nil {
		return nil, ErrInternal
	}
	kvs := make([]KV, len(rows))
	for i, r := range rows {
		kvs[i] = KV{Key: r.Key, Value: r.Value}
	}
	return kvs, nil
}

func decodeKeys(b []byte) ([][]byte, error) {
	keys, err := abi.DecodeList(b)
	if err != nil {
		return nil, ErrInternal
	}
	return keys, nil
}

// ScanPage returns up to limit rows under prefix after skipping cursor rows
// (offset paging, db_scan).
func ScanPage(prefix []byte, cursor uint64, limit int) ([]KV, error) {
	b, err := read(4096, func(p unsafe.Pointer, n uint32) int32 {
		return dbScan(ptr(prefix), uint32(len(prefix)), cursor, uint32(limit), p, n)
	})
	if err != nil {
		return nil, err
	}
	return decodeKV(b)
}

// KeysPage is ScanPage for keys only (db_keys).
func KeysPage(prefix []byte, cursor uint64, limit int) ([][]byte, error) {
	return GrowList(1024, func(p unsafe.Pointer, n uint32) int32 {
		return dbKeys(ptr(prefix), uint32(len(prefix)), cursor, uint32(limit), p, n)
	})
}

// ScanAfterPage returns up to limit rows under prefix strictly after key
// after (key paging, db_scan_after); an empty after starts at the beginning.
func ScanAfterPage(prefix, after []byte, limit int) ([]KV, error) {
	b, err := read(4096, func(p unsafe.Pointer, n uint32) int32 {
		return dbScanAfter(ptr(prefix), uint32(len(prefix)), ptr(after), uint32(len(after)), uint32(limit), p, n)
	})
	if err != nil {
		return nil, err
	}
	return decodeKV(b)
}

// KeysAfterPage is ScanAfterPage for keys only (db_keys_after).
func KeysAfterPage(prefix, after []byte, limit int) ([][]byte, error) {
	return GrowList(1024, func(p unsafe.Pointer, n uint32) int32 {
		return dbKeysAfter(ptr(prefix), uint32(len(prefix)), ptr(after), uint32(len(after)), uint32(limit), p, n)
	})
}

// pageSize is the page the iterators start with; a page that does not fit
// in the largest buffer is retried with half as many rows.
const pageSize = 128

// Pages iterates over items read a page at a time: page returns up to
// limit items after the cursor, next the cursor after a page. A page that
// does not fit in the largest buffer is asked again with half the limit;
// a page shorter than its limit is the last.
func Pages[T, C any](limit int, page func(after C, limit int) ([]T, error), next func(after C, page []T) C) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var after C
		for {
			items, err := page(after, limit)
			if err == ErrBufferTooSmall && limit > 1 {
				limit /= 2
				continue
			}
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			if len(items) < limit {
				return
			}
			after = next(after, items)
		}
	}
}

// Scan iterates over every row under prefix in key order, paging with key
// cursors so rows written during the iteration never shift it.
func Scan(prefix []byte) iter.Seq2[KV, error] {
	return Pages(pageSize, func(after []byte, limit int) ([]KV, error) { return ScanAfterPage(prefix, after, limit) },
		func(_ []byte, page []KV) []byte { return page[len(page)-1].Key })
}

// Keys iterates over every key under prefix in order.
func Keys(prefix []byte) iter.Seq2[[]byte, error] {
	return Pages(pageSize*8, func(after []byte, limit int) ([][]byte, error) { return KeysAfterPage(prefix, after, limit) },
		func(_ []byte, page [][]byte) []byte { return page[len(page)-1] })
}

// Now returns the host's wall clock, with millisecond precision.
func Now() time.Time { return time.UnixMilli(int64(timeNow())) }

// Monotonic returns the time since the node started; it never decreases.
func Monotonic() time.Duration { return time.Duration(timeMonotonic()) * time.Millisecond }

// RandomBytes returns n bytes from the host's CSPRNG.
func RandomBytes(n int) ([]byte, error) {
	buf := make([]byte, n)
	if err := code(randomBytes(ptr(buf), uint32(n))); err != nil {
		return nil, err
	}
	return buf, nil
}

func digest(f func(ip unsafe.Pointer, in uint32, op unsafe.Pointer, on uint32) int32, data []byte) ([32]byte, error) {
	var out [32]byte
	err := code(f(ptr(data), uint32(len(data)), unsafe.Pointer(&out[0]), 32))
	return out, err
}

// SHA256 hashes data on the host.
func SHA256(data []byte) ([32]byte, error) { return digest(hashSHA256, data) }

// BLAKE3 hashes data on the host.
func BLAKE3(data []byte) ([32]byte, error) { return digest(hashBLAKE3, data) }

// Env returns an NX_* or NUMAX_* variable of the node's environment;
// other names and unset variables give ErrNotFound.
func Env(name string) (string, error) {
	b, err := read(256, func(p unsafe.Pointer, n uint32) int32 {
		return envGet(sptr(name), uint32(len(name)), p, n)
	})
	return string(b), err
}

// ModuleID returns this module's id (its path as given to nx run).
func ModuleID() (string, error) {
	b, err := read(256, moduleID)
	return string(b), err
}

// Capabilities returns the names of every host function, sorted.
func Capabilities() ([]string, error) {
	b, err := read(1024, hostCapabilities)
	if err != nil {
		return nil, err
	}
	return strings.Split(string(b), "\n"), nil
}

// Emit emits a named runtime event (logged and counted by the node).
func Emit(name string, payload []byte) error {
	return code(eventEmit(sptr(name), uint32(len(name)), ptr(payload), uint32(len(payload))))
}

// Abort stops the guest with "guest abort: msg"; nx exits 1. It does not
// return.
func Abort(msg string) {
	abort(sptr(msg), uint32(len(msg)))
	panic("nx: abort returned") // unreachable: the host ends the invocation
}

// NodeID returns the local NodeId; ErrSyncDisabled without sync.
func NodeID() (string, error) {
	b, err := read(64, netNodeID)
	return string(b), err
}

// Peers returns the connected peers; ErrSyncDisabled without sync.
func Peers() ([]Peer, error) {
	b, err := read(1024, netPeers)
	if err != nil {
		return nil, err
	}
	peers, derr := abi.DecodePeers(b)
	if derr != nil {
		return nil, ErrInternal
	}
	return peers, nil
}
