//go:build wasip1

// Package text is a replicated plain text (crdt_text_*): insert and delete
// by code-point position; concurrent edits merge on every node the same
// way, and two people typing at one place never interleave letter by
// letter.
package text

import (
	"iter"
	"strings"
	"unsafe"

	nx "github.com/numax/numax/sdk/go"
)

//go:wasmimport nx crdt_text_insert
func insert(kp unsafe.Pointer, kn uint32, index int64, sp unsafe.Pointer, sn uint32) int32

//go:wasmimport nx crdt_text_delete
func del(kp unsafe.Pointer, kn uint32, index, count int64) int32

//go:wasmimport nx crdt_text_len
func length(kp unsafe.Pointer, kn uint32) int64

//go:wasmimport nx crdt_text_read
func read(kp unsafe.Pointer, kn uint32, from, count int64, op unsafe.Pointer, on uint32) int32

// Insert inserts s (UTF-8) so its first character is at code-point index
// (0 … Len); nx.ErrInternal past the end or for invalid UTF-8.
func Insert(key string, index int, s string) error {
	return nx.Code(insert(nx.StrPtr(key), uint32(len(key)), int64(index), nx.StrPtr(s), uint32(len(s))))
}

// Delete deletes count characters from index; nx.ErrInternal past the end.
func Delete(key string, index, count int) error {
	return nx.Code(del(nx.StrPtr(key), uint32(len(key)), int64(index), int64(count)))
}

// Len returns the length in code points.
func Len(key string) (int, error) {
	n := length(nx.StrPtr(key), uint32(len(key)))
	if n < 0 {
		return 0, nx.Error(int32(n))
	}
	return int(n), nil
}

// Read returns the characters [from, from+count), count clamped to the end.
func Read(key string, from, count int) (string, error) {
	b, err := nx.Grow(min(4*count, 64<<10)+4, func(p unsafe.Pointer, n uint32) int32 {
		return read(nx.StrPtr(key), uint32(len(key)), int64(from), int64(count), p, n)
	})
	return string(b), err
}

// pageChars is how many characters Pages reads per call (at most 256 KiB of
// UTF-8, under the default output limit).
const pageChars = 64 << 10

// Pages yields the text in pages of up to 65,536 characters, in order.
func Pages(key string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		n, err := Len(key)
		if err != nil {
			yield("", err)
			return
		}
		for from := 0; from < n; from += pageChars {
			s, err := Read(key, from, pageChars)
			if !yield(s, err) || err != nil {
				return
			}
		}
	}
}

// String returns the whole text.
func String(key string) (string, error) {
	var b strings.Builder
	for s, err := range Pages(key) {
		if err != nil {
			return "", err
		}
		b.WriteString(s)
	}
	return b.String(), nil
}
