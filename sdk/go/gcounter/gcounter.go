//go:build wasip1

// Package gcounter is a replicated grow-only counter (crdt_gcounter_*).
// Every node adds to its own slot; the value is the sum, saturating at the
// u64 maximum. Without sync the calls return nx.ErrSyncDisabled.
package gcounter

import (
	"encoding/binary"
	"unsafe"

	nx "github.com/numax/numax/sdk/go"
)

//go:wasmimport nx crdt_gcounter_inc
func inc(kp unsafe.Pointer, kn uint32, delta uint64) int32

//go:wasmimport nx crdt_gcounter_value
func value(kp unsafe.Pointer, kn uint32, op unsafe.Pointer, on uint32) int32

// Inc adds delta to the counter key.
func Inc(key string, delta uint64) error {
	return nx.Code(inc(nx.StrPtr(key), uint32(len(key)), delta))
}

// Value returns the counter's total (0 for a key never written).
func Value(key string) (uint64, error) {
	var b [8]byte
	if err := nx.Code(value(nx.StrPtr(key), uint32(len(key)), unsafe.Pointer(&b[0]), 8)); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}
