//go:build wasip1

// Package pncounter is a replicated counter that goes up and down
// (crdt_pncounter_*); its value is clamped to the int64 range.
package pncounter

import (
	"encoding/binary"
	"unsafe"

	nx "github.com/numax/numax/sdk/go"
)

//go:wasmimport nx crdt_pncounter_inc
func inc(kp unsafe.Pointer, kn uint32, delta uint64) int32

//go:wasmimport nx crdt_pncounter_dec
func dec(kp unsafe.Pointer, kn uint32, delta uint64) int32

//go:wasmimport nx crdt_pncounter_value
func value(kp unsafe.Pointer, kn uint32, op unsafe.Pointer, on uint32) int32

// Inc adds delta.
func Inc(key string, delta uint64) error {
	return nx.Code(inc(nx.StrPtr(key), uint32(len(key)), delta))
}

// Dec subtracts delta.
func Dec(key string, delta uint64) error {
	return nx.Code(dec(nx.StrPtr(key), uint32(len(key)), delta))
}

// Value returns the counter's value (0 for a key never written).
func Value(key string) (int64, error) {
	var b [8]byte
	if err := nx.Code(value(nx.StrPtr(key), uint32(len(key)), unsafe.Pointer(&b[0]), 8)); err != nil {
		return 0, err
	}
	return int64(binary.LittleEndian.Uint64(b[:])), nil
}
