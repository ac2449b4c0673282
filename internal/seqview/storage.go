package seqview

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	"github.com/numax/numax/internal/crdt"
)

// Storage: the directory and chunk encodings, and writing what changed.

// Flush writes what changed since the view was read or last flushed: the
// changed chunks, the removed ones (del) and the directory, with put (which
// must copy what it keeps). Read chunks are kept.
func (v *View) Flush(put func(sub, value []byte), del func(sub []byte)) {
	for _, id := range v.gone {
		del(ChunkSub(id))
	}
	v.gone = v.gone[:0]
	var buf []byte
	for _, c := range v.chunks {
		if c != nil && c.dirty {
			buf = appendChunk(buf[:0], v.typ, c.entries)
			put(ChunkSub(c.id), buf)
			c.dirty = false
		}
	}
	if v.dirDirty {
		put(DirSub, v.appendDir(nil))
		v.dirDirty = false
	}
}

// Release drops the entries of chunks that are not dirty (they are read
// again when needed).
func (v *View) Release() {
	for ci, c := range v.chunks {
		if c != nil && !c.dirty {
			if c.loaded {
				v.loaded--
			}
			v.chunks[ci] = nil
		}
	}
}

func (v *View) appendDir(b []byte) []byte {
	b = append(b, Version, byte(v.typ))
	b = binary.AppendUvarint(b, v.nextID)
	b = binary.AppendUvarint(b, v.maxHLC)
	b = binary.AppendUvarint(b, v.dels)
	b = binary.AppendUvarint(b, uint64(len(v.chunks)))
	for ci, id := range v.ids {
		b = binary.AppendUvarint(binary.AppendUvarint(b, id), v.lens[ci])
	}
	return b
}

// Decode reads a view of a sequence of type t from its directory; its
// chunks are read through read when first needed.
func Decode(t crdt.Type, dir []byte, read ChunkReader) (*View, error) {
	d := reader{b: dir}
	if ver := d.byte1(); d.err == nil && ver != Version {
		return nil, fmt.Errorf("%w: version %d (this build reads %d)", ErrCorrupt, ver, Version)
	}
	if typ := crdt.Type(d.byte1()); d.err == nil && typ != t {
		return nil, fmt.Errorf("%w: a view of a %s, not a %s", ErrCorrupt, typ, t)
	}
	v := &View{typ: t, read: read}
	v.nextID, v.maxHLC, v.dels = d.uv(), d.uv(), d.uv()
	n := d.count(2)
	// Chunk ids are below nextID, which grows by one per chunk made: ids
	// seen are a bit set, or a map when nextID is far above the count (a
	// long-edited view, or a corrupt one).
	var seen []uint64
	var seenMap map[uint64]bool
	if v.nextID <= uint64(n)*64+1<<20 {
		seen = make([]uint64, (v.nextID+63)/64)
	} else {
		seenMap = make(map[uint64]bool, n)
	}
	dup := func(id uint64) bool {
		if seen == nil {
			had := seenMap[id]
			seenMap[id] = true
			return had
		}
		had := seen[id/64]&(1<<(id%64)) != 0
		seen[id/64] |= 1 << (id % 64)
		return had
	}
	v.ids, v.lens = make([]uint64, 0, n), make([]uint64, 0, n)
	for range n {
		id, cn := d.uv(), d.uv()
		if d.err != nil {
			break
		}
		if cn == 0 || id >= v.nextID || dup(id) || v.total+cn < v.total {
			return nil, fmt.Errorf("%w: bad chunk entry (id %d, length %d)", ErrCorrupt, id, cn)
		}
		v.total += cn
		v.ids = append(v.ids, id)
		v.lens = append(v.lens, cn)
	}
	v.chunks = make([]*chunk, len(v.ids))
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%w: %d bytes after the directory", ErrCorrupt, len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	v.rebuild()
	return v, nil
}

// appendChunk encodes entries: the version, the distinct origins, then
// per entry the origin's index and the seq as a difference from the entry
// before's (typing makes consecutive ones), a Text's offset and length, an
// RGA's value; a Text's characters follow, all together.
func appendChunk(b []byte, t crdt.Type, entries []Entry) []byte {
	b = append(b, Version)
	var origins []string
	idx := map[string]uint64{}
	for _, e := range entries {
		if _, ok := idx[e.ID.Origin]; !ok {
			idx[e.ID.Origin] = uint64(len(origins))
			origins = append(origins, e.ID.Origin)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(origins)))
	for _, o := range origins {
		b = append(binary.AppendUvarint(b, uint64(len(o))), o...)
	}
	b = binary.AppendUvarint(b, uint64(len(entries)))
	prev, text := uint64(0), 0
	for _, e := range entries {
		b = binary.AppendUvarint(b, idx[e.ID.Origin])
		b = binary.AppendVarint(b, int64(e.ID.Seq-prev))
		prev = e.ID.Seq
		if t == crdt.TypeText {
			b = binary.AppendUvarint(binary.AppendUvarint(b, e.Off), e.N)
			text += len(e.Val)
		} else {
			b = append(binary.AppendUvarint(b, uint64(len(e.Val))), e.Val...)
		}
	}
	if t == crdt.TypeText {
		b = binary.AppendUvarint(b, uint64(text))
		for _, e := range entries {
			b = append(b, e.Val...)
		}
	}
	return b
}

// decodeChunk reads a chunk the directory says holds n visible elements.
func decodeChunk(t crdt.Type, b []byte, n uint64) ([]Entry, int, error) {
	d := reader{b: b}
	if ver := d.byte1(); d.err == nil && ver != Version {
		return nil, 0, fmt.Errorf("%w: chunk version %d", ErrCorrupt, ver)
	}
	origins := make([]string, d.count(1))
	for i := range origins {
		origins[i] = string(d.bytes())
	}
	ne := d.count(2)
	entries := make([]Entry, ne, ne+ne/8+1) // room for an insert or two without a copy
	sum, prev := uint64(0), uint64(0)
	for i := range entries {
		e := &entries[i]
		oi := d.uv()
		e.ID.Seq = prev + uint64(d.v())
		prev = e.ID.Seq
		e.N = 1
		if t == crdt.TypeText {
			e.Off, e.N = d.uv(), d.uv()
		} else {
			e.Val = d.bytes()
		}
		if d.err != nil {
			break
		}
		if oi >= uint64(len(origins)) || e.ID.Seq == 0 || e.N == 0 || sum+e.N < sum {
			return nil, 0, fmt.Errorf("%w: bad entry %d", ErrCorrupt, i)
		}
		e.ID.Origin = origins[oi]
		sum += e.N
	}
	if t == crdt.TypeText && d.err == nil {
		text := d.bytes()
		for i := range entries {
			e := &entries[i]
			k := 0
			for range e.N {
				r, w := utf8.DecodeRune(text[k:])
				if r == utf8.RuneError && w <= 1 {
					return nil, 0, fmt.Errorf("%w: entry %d: not %d characters of UTF-8", ErrCorrupt, i, e.N)
				}
				k += w
			}
			e.Val, text = text[:k:k], text[k:]
		}
		if len(text) > 0 {
			d.fail("characters past the entries")
		}
	}
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%w: %d bytes after the chunk", ErrCorrupt, len(d.b))
	}
	if d.err != nil {
		return nil, 0, d.err
	}
	if sum != n {
		return nil, 0, fmt.Errorf("%w: chunk holds %d elements, its directory says %d", ErrCorrupt, sum, n)
	}
	size := 0
	for _, e := range entries {
		size += entryBytes(e)
	}
	return entries, size, nil
}

// reader decodes varints and length-prefixed bytes, keeping the first
// error.
type reader struct {
	b   []byte
	err error
}

func (d *reader) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, what)
	}
	d.b = nil
}

func (d *reader) byte1() byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail("short")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *reader) uv() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// v reads a signed varint (zigzag, as binary.AppendVarint writes it).
func (d *reader) v() int64 {
	u := d.uv()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

func (d *reader) bytes() []byte {
	n := d.uv()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("length past the end")
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

// count reads a count of items each at least min bytes long.
func (d *reader) count(min uint64) int {
	n := d.uv()
	if d.err == nil && n > uint64(len(d.b))/min {
		d.fail("count past the end")
		return 0
	}
	return int(n)
}
