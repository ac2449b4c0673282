//go:build wasip1

// Package rga is a replicated sequence (crdt_rga_*): insert after any
// element, delete by id; concurrent inserts interleave the same way on every
// node, as in a collaborative editor.
package rga

import (
	"iter"
	"unsafe"

	nx "github.com/numax/numax/sdk/go"
)

//go:wasmimport nx crdt_rga_insert
func insert(kp unsafe.Pointer, kn uint32, pp unsafe.Pointer, pn uint32, vp unsafe.Pointer, vn uint32, op unsafe.Pointer, on uint32) int32

//go:wasmimport nx crdt_rga_delete
func del(kp unsafe.Pointer, kn uint32, ip unsafe.Pointer, in uint32) int32

//go:wasmimport nx crdt_rga_values
func values(kp unsafe.Pointer, kn uint32, op unsafe.Pointer, on uint32) int32

//go:wasmimport nx crdt_rga_elements
func elements(kp unsafe.Pointer, kn uint32, op unsafe.Pointer, on uint32) int32

// Head is the parent that inserts at the start of the sequence.
const Head = ""

// Element is a visible element: its id (for Insert and Delete) and value.
type Element struct {
	ID    string
	Value []byte
}

// Insert inserts value right after parent (Head for the start) and returns
// the new element's id. After a deleted element it lands at the same
// visible place (the host names the visible element before it), and the id
// of a deleted element the node has since collected is not found
// (nx.ErrNotFound).
func Insert(key, parent string, value []byte) (string, error) {
	// 64 bytes hold any id ("<20 digits>@<32 hex>"), so the host never
	// answers -2 and no retry could insert twice.
	var id [64]byte
	r := insert(nx.StrPtr(key), uint32(len(key)), nx.StrPtr(parent), uint32(len(parent)),
		nx.Ptr(value), uint32(len(value)), unsafe.Pointer(&id[0]), uint32(len(id)))
	if err := nx.Code(r); err != nil {
		return "", err
	}
	return string(id[:r]), nil
}

// Delete removes the element id (nx.ErrNotFound if unknown).
func Delete(key, id string) error {
	return nx.Code(del(nx.StrPtr(key), uint32(len(key)), nx.StrPtr(id), uint32(len(id))))
}

// Values returns the visible values in sequence order.
func Values(key string) ([][]byte, error) {
	return nx.GrowList(1024, func(p unsafe.Pointer, n uint32) int32 {
		return values(nx.StrPtr(key), uint32(len(key)), p, n)
	})
}

// Elements returns the visible elements with their ids, in order.
func Elements(key string) ([]Element, error) {
	pairs, err := nx.GrowPairs(1024, func(p unsafe.Pointer, n uint32) int32 {
		return elements(nx.StrPtr(key), uint32(len(key)), p, n)
	})
	if err != nil {
		return nil, err
	}
	out := make([]Element, len(pairs))
	for i, p := range pairs {
		out[i] = Element{ID: string(p.Key), Value: p.Value}
	}
	return out, nil
}

//go:wasmimport nx crdt_rga_slice
func slice(kp unsafe.Pointer, kn uint32, from, count int64, op unsafe.Pointer, on uint32) int32

// Slice returns the values of the visible elements [from, from+count)
// (fewer at the end).
func Slice(key string, from, count int) ([][]byte, error) {
	return nx.GrowList(4096, func(p unsafe.Pointer, n uint32) int32 {
		return slice(nx.StrPtr(key), uint32(len(key)), int64(from), int64(count), p, n)
	})
}

// All yields every visible value in order, a page of up to 256 at a time.
func All(key string) iter.Seq2[[]byte, error] {
	return nx.Pages(256, func(from, limit int) ([][]byte, error) { return Slice(key, from, limit) },
		func(from int, page [][]byte) int { return from + len(page) })
}
