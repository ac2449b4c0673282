//go:build wasip1

// Package orset is a replicated observed-remove set (crdt_orset_*): a remove
// takes away the adds this node has seen; a concurrent add elsewhere wins.
package orset

import (
	"iter"
	"unsafe"

	nx "github.com/numax/numax/sdk/go"
)

//go:wasmimport nx crdt_orset_add
func add(kp unsafe.Pointer, kn uint32, ep unsafe.Pointer, en uint32) int32

//go:wasmimport nx crdt_orset_remove
func remove(kp unsafe.Pointer, kn uint32, ep unsafe.Pointer, en uint32) int32

//go:wasmimport nx crdt_orset_contains
func contains(kp unsafe.Pointer, kn uint32, ep unsafe.Pointer, en uint32) int32

//go:wasmimport nx crdt_orset_elements
func elements(kp unsafe.Pointer, kn uint32, op unsafe.Pointer, on uint32) int32

// Add adds elem.
func Add(key string, elem []byte) error {
	return nx.Code(add(nx.StrPtr(key), uint32(len(key)), nx.Ptr(elem), uint32(len(elem))))
}

// Remove removes elem as this node has seen it (a no-op if never seen).
func Remove(key string, elem []byte) error {
	return nx.Code(remove(nx.StrPtr(key), uint32(len(key)), nx.Ptr(elem), uint32(len(elem))))
}

// Contains reports whether elem is present.
func Contains(key string, elem []byte) (bool, error) {
	r := contains(nx.StrPtr(key), uint32(len(key)), nx.Ptr(elem), uint32(len(elem)))
	return r == 1, nx.Code(r)
}

// Elements returns the present elements, sorted.
func Elements(key string) ([][]byte, error) {
	return nx.GrowList(1024, func(p unsafe.Pointer, n uint32) int32 {
		return elements(nx.StrPtr(key), uint32(len(key)), p, n)
	})
}

//go:wasmimport nx crdt_orset_scan
func scan(kp unsafe.Pointer, kn uint32, ap unsafe.Pointer, an uint32, limit uint32, op unsafe.Pointer, on uint32) int32

// ScanPage returns up to limit present elements strictly after after (nil
// for the first), sorted; its cost is the page's, not the set's.
func ScanPage(key string, after []byte, limit int) ([][]byte, error) {
	return nx.GrowList(4096, func(p unsafe.Pointer, n uint32) int32 {
		return scan(nx.StrPtr(key), uint32(len(key)), nx.Ptr(after), uint32(len(after)), uint32(limit), p, n)
	})
}

// All yields every present element in order, a page of up to 256 at a time.
func All(key string) iter.Seq2[[]byte, error] {
	return nx.Pages(256, func(after []byte, limit int) ([][]byte, error) { return ScanPage(key, after, limit) },
		func(_ []byte, page [][]byte) []byte { return page[len(page)-1] })
}
