//go:build wasip1

// Package lww is a replicated last-writer-wins register (crdt_lww_*).
package lww

import (
	"unsafe"

	nx "github.com/numax/numax/sdk/go"
)

//go:wasmimport nx crdt_lww_set
func set(kp unsafe.Pointer, kn uint32, vp unsafe.Pointer, vn uint32) int32

//go:wasmimport nx crdt_lww_get
func get(kp unsafe.Pointer, kn uint32, op unsafe.Pointer, on uint32) int32

// Set writes the register.
func Set(key string, value []byte) error {
	return nx.Code(set(nx.StrPtr(key), uint32(len(key)), nx.Ptr(value), uint32(len(value))))
}

// Get returns the register's value, or nx.ErrNotFound if it was never set.
func Get(key string) ([]byte, error) {
	return nx.Grow(256, func(p unsafe.Pointer, n uint32) int32 {
		return get(nx.StrPtr(key), uint32(len(key)), p, n)
	})
}
