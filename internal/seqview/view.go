// Package seqview keeps a sequence's visible content (a Text's characters,
// an RGA's values) in order, in chunks stored beside the sequence's own
// records, with a directory of each chunk's visible length (docs/crdt.md,
// "Objects of any size").
//
// A node reads an RGA or a Text whole to change it by its CRDT rules, which
// for a million elements takes seconds. A view answers what needs only the
// visible order: the length, a page from any position (the directory and
// one or two chunks), and the local edits whose result is known from it
// alone — text typed or deleted at a position, a value inserted at the
// head — whose records it writes without the whole object. A view is
// derived data: the sequence's own records stay the truth, and a view that
// is missing or unreadable only means the sequence is read whole.
package seqview

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/numax/numax/internal/crdt"
)

// Version is the first byte of a view's directory and chunks.
const Version = 1

// ErrCorrupt wraps every failure to decode a directory or a chunk.
var ErrCorrupt = errors.New("seqview: corrupt view")

// Chunk bounds: a chunk is split in two past either.
const (
	maxChunkEntries = 256
	maxChunkBytes   = 4096
)

// Entry is a run of visible elements: for a Text, N consecutive characters
// of the run ID from offset Off, Val their UTF-8; for an RGA, the element
// ID (N = 1, Off = 0) and its value.
type Entry struct {
	ID  crdt.OpID
	Off uint64
	N   uint64
	Val []byte
}

// ChunkReader reads a stored chunk by its id (Sub-keys: ChunkSub).
type ChunkReader func(id uint64) ([]byte, error)

// View is a sequence's view. It reads its chunks through a ChunkReader on
// first use and keeps them; Flush writes what changed.
type View struct {
	typ crdt.Type
	// chunks are in order; one not read yet is nil, known by its id and
	// length alone (ids, lens: what the directory holds).
	chunks []*chunk
	ids    []uint64
	lens   []uint64 // the chunks' visible lengths (chunk.n)
	fen    []uint64 // Fenwick tree over lens
	total  uint64
	nextID uint64
	maxHLC uint64
	dels   uint64 // elements deleted through the view (Deleted)
	read   ChunkReader

	dirDirty bool
	gone     []uint64 // ids of chunks removed since the last Flush
	loaded   int      // chunks read (or made) and held
}

type chunk struct {
	id      uint64
	n       uint64  // visible elements
	entries []Entry // nil until read (loaded)
	loaded  bool
	dirty   bool
	bytes   int // encoded size estimate of the entries
}

// DirSub is the sub-key of a view's directory; ChunkSub that of a chunk.
var DirSub = []byte{'d'}

// ChunkSub returns the sub-key of chunk id.
func ChunkSub(id uint64) []byte { return binary.BigEndian.AppendUint64([]byte{'c'}, id) }

// Build makes the view of a sequence of type t (crdt.TypeText or
// crdt.TypeRGA) from its visible entries in order (adjacent Text entries of
// one run that continue each other are joined); maxHLC is the largest
// timestamp in the sequence, deleted elements included. Every chunk is
// dirty: Flush writes them all.
func Build(t crdt.Type, maxHLC uint64, entries func(yield func(Entry) bool)) *View {
	v := &View{typ: t, maxHLC: maxHLC, dirDirty: true}
	var cur *chunk
	entries(func(e Entry) bool {
		if cur != nil && t == crdt.TypeText && len(cur.entries) > 0 {
			last := &cur.entries[len(cur.entries)-1]
			if last.ID == e.ID && last.Off+last.N == e.Off && len(last.Val)+len(e.Val) <= maxChunkBytes/4 {
				last.Val = append(last.Val[:len(last.Val):len(last.Val)], e.Val...)
				last.N += e.N
				cur.n += e.N
				cur.bytes += len(e.Val)
				v.total += e.N
				return true
			}
		}
		if cur == nil || len(cur.entries) >= maxChunkEntries*3/4 || cur.bytes >= maxChunkBytes*3/4 {
			cur = &chunk{id: v.nextID, loaded: true, dirty: true}
			v.nextID++
			v.chunks = append(v.chunks, cur)
		}
		cur.entries = append(cur.entries, e)
		cur.n += e.N
		cur.bytes += entryBytes(e)
		v.total += e.N
		return true
	})
	v.loaded = len(v.chunks)
	for _, c := range v.chunks {
		v.ids = append(v.ids, c.id)
		v.lens = append(v.lens, c.n)
	}
	v.rebuild()
	return v
}

// entryBytes estimates an entry's encoded size.
func entryBytes(e Entry) int { return 12 + len(e.Val) }

// Type returns the sequence type the view is of.
func (v *View) Type() crdt.Type { return v.typ }

// Len returns the number of visible elements (a Text's code points).
func (v *View) Len() uint64 { return v.total }

// MaxHLC returns the largest timestamp in the sequence the view knows of.
// A local insert can be placed by the view only if it is newer: then it
// lands right after its parent, ahead of every sibling.
func (v *View) MaxHLC() uint64 { return v.maxHLC }

// Deleted returns how many elements were deleted through the view (and its
// earlier stored versions) since it was built, plus what SetDeleted added:
// deletes whose tombstones wait until the sequence is read whole.
func (v *View) Deleted() uint64 { return v.dels }

// SetDeleted sets the count Deleted starts from (a view built from a
// sequence whose deletes still wait for collection).
func (v *View) SetDeleted(n uint64) {
	v.dels = n
	v.dirDirty = true
}

// Dirty reports whether the view changed since it was read or flushed.
func (v *View) Dirty() bool {
	return v.dirDirty || len(v.gone) > 0
}

// chunkMem estimates the memory of a chunk held: half full, 48 bytes an
// entry and half its byte bound.
const chunkMem = maxChunkEntries/2*48 + maxChunkBytes/2

// MemBytes estimates the memory the view takes (O(1)).
func (v *View) MemBytes() int64 {
	return int64(len(v.chunks))*40 + int64(v.loaded)*chunkMem
}

// ---- Fenwick tree over chunk lengths ----

// rebuild makes the Fenwick tree again after chunks came or went (O(chunks),
// over one array).
func (v *View) rebuild() {
	fen := slices.Grow(v.fen[:0], len(v.lens)+1)[:len(v.lens)+1]
	fen[0] = 0
	copy(fen[1:], v.lens)
	for i := 1; i < len(fen); i++ {
		if j := i + (i & -i); j < len(fen) {
			fen[j] += fen[i]
		}
	}
	v.fen = fen
}

func (v *View) addLen(ci int, d uint64, neg bool) {
	if neg {
		v.lens[ci] -= d
	} else {
		v.lens[ci] += d
	}
	for i := ci + 1; i < len(v.fen); i += i & -i {
		if neg {
			v.fen[i] -= d
		} else {
			v.fen[i] += d
		}
	}
}

// locate returns the chunk holding visible index i and i's offset in it;
// i = Len gives the last chunk and its length (-1 for an empty view).
func (v *View) locate(i uint64) (int, uint64) {
	if len(v.chunks) == 0 {
		return -1, 0
	}
	if i >= v.total {
		ci := len(v.chunks) - 1
		return ci, v.lens[ci] - (v.total - i)
	}
	pos, rem := 0, i
	step := 1
	for step*2 < len(v.fen) {
		step *= 2
	}
	for ; step > 0; step /= 2 {
		if next := pos + step; next < len(v.fen) && v.fen[next] <= rem {
			pos = next
			rem -= v.fen[next]
		}
	}
	return pos, rem
}

// prefix returns the visible length of chunks [0, ci).
func (v *View) prefix(ci int) uint64 {
	n := uint64(0)
	for i := ci; i > 0; i -= i & -i {
		n += v.fen[i]
	}
	return n
}

// load reads chunk ci's entries if not yet read.
func (v *View) load(ci int) error {
	c := v.chunks[ci]
	if c == nil {
		c = &chunk{id: v.ids[ci], n: v.lens[ci]}
		v.chunks[ci] = c
	}
	if c.loaded {
		return nil
	}
	if v.read == nil {
		return fmt.Errorf("%w: chunk %d not read and no reader", ErrCorrupt, c.id)
	}
	b, err := v.read(c.id)
	if err != nil {
		return fmt.Errorf("seqview: chunk %d: %w", c.id, err)
	}
	entries, size, err := decodeChunk(v.typ, b, c.n)
	if err != nil {
		return fmt.Errorf("chunk %d: %w", c.id, err)
	}
	c.entries, c.bytes, c.loaded = entries, size, true
	v.loaded++
	return nil
}

// find returns the entry of chunk c holding offset o (its index and o's
// offset in it); o = c.n gives len(c.entries), 0.
func (c *chunk) find(o uint64) (int, uint64) {
	for j, e := range c.entries {
		if o < e.N {
			return j, o
		}
		o -= e.N
	}
	return len(c.entries), 0
}

// splitEntry cuts e after k of its elements (0 < k < e.N; a Text's).
func splitEntry(e Entry, k uint64) (Entry, Entry) {
	b := 0
	for range k {
		_, w := utf8.DecodeRune(e.Val[b:])
		b += w
	}
	left := Entry{ID: e.ID, Off: e.Off, N: k, Val: e.Val[:b:b]}
	right := Entry{ID: e.ID, Off: e.Off + k, N: e.N - k, Val: e.Val[b:]}
	return left, right
}
