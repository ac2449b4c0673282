//go:build wasip1

// Package lwwmap is a replicated map of last-writer-wins fields
// (crdt_lww_map_*); a remove is a tombstone with its own timestamp.
package lwwmap

import (
	"iter"
	"unsafe"

	nx "github.com/numax/numax/sdk/go"
)

//go:wasmimport nx crdt_lww_map_set
func set(kp unsafe.Pointer, kn uint32, fp unsafe.Pointer, fn uint32, vp unsafe.Pointer, vn uint32) int32

//go:wasmimport nx crdt_lww_map_remove
func remove(kp unsafe.Pointer, kn uint32, fp unsafe.Pointer, fn uint32) int32

//go:wasmimport nx crdt_lww_map_get
func get(kp unsafe.Pointer, kn uint32, fp unsafe.Pointer, fn uint32, op unsafe.Pointer, on uint32) int32

//go:wasmimport nx crdt_lww_map_contains
func contains(kp unsafe.Pointer, kn uint32, fp unsafe.Pointer, fn uint32) int32

//go:wasmimport nx crdt_lww_map_entries
func entries(kp unsafe.Pointer, kn uint32, op unsafe.Pointer, on uint32) int32

// Set writes field.
func Set(key, field string, value []byte) error {
	return nx.Code(set(nx.StrPtr(key), uint32(len(key)), nx.StrPtr(field), uint32(len(field)), nx.Ptr(value), uint32(len(value))))
}

// Remove tombstones field.
func Remove(key, field string) error {
	return nx.Code(remove(nx.StrPtr(key), uint32(len(key)), nx.StrPtr(field), uint32(len(field))))
}

// Get returns field's value, or nx.ErrNotFound if absent or removed.
func Get(key, field string) ([]byte, error) {
	return nx.Grow(256, func(p unsafe.Pointer, n uint32) int32 {
		return get(nx.StrPtr(key), uint32(len(key)), nx.StrPtr(field), uint32(len(field)), p, n)
	})
}

// Contains reports whether field is present.
func Contains(key, field string) (bool, error) {
	r := contains(nx.StrPtr(key), uint32(len(key)), nx.StrPtr(field), uint32(len(field)))
	return r == 1, nx.Code(r)
}

// Entries returns the visible fields in field order.
func Entries(key string) ([]nx.KV, error) {
	return nx.GrowPairs(1024, func(p unsafe.Pointer, n uint32) int32 {
		return entries(nx.StrPtr(key), uint32(len(key)), p, n)
	})
}

//go:wasmimport nx crdt_lww_map_scan
func scan(kp unsafe.Pointer, kn uint32, ap unsafe.Pointer, an uint32, limit uint32, op unsafe.Pointer, on uint32) int32

// ScanPage returns up to limit present fields strictly after field after
// ("" for the first), in field order; its cost is the page's, not the map's.
func ScanPage(key, after string, limit int) ([]nx.KV, error) {
	return nx.GrowPairs(4096, func(p unsafe.Pointer, n uint32) int32 {
		return scan(nx.StrPtr(key), uint32(len(key)), nx.StrPtr(after), uint32(len(after)), uint32(limit), p, n)
	})
}

// All yields every present field in order, a page of up to 256 at a time.
func All(key string) iter.Seq2[nx.KV, error] {
	return nx.Pages(256, func(after string, limit int) ([]nx.KV, error) { return ScanPage(key, after, limit) },
		func(_ string, page []nx.KV) string { return string(page[len(page)-1].Key) })
}
