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

// ---- reads ----

// Touch reads the chunk that visible index i (0 … Len) falls in, so that an
// edit there reads nothing more.
func (v *View) Touch(i uint64) error {
	if i > v.total {
		return fmt.Errorf("index %d past the end (length %d)", i, v.total)
	}
	ci, _ := v.locate(i)
	if ci < 0 {
		return nil
	}
	return v.load(ci)
}

// At returns the element at visible index i: its entry's id and the
// offset of the element in the run (a Text's CharID).
func (v *View) At(i uint64) (crdt.OpID, uint64, error) {
	if i >= v.total {
		return crdt.OpID{}, 0, fmt.Errorf("index %d past the end (length %d)", i, v.total)
	}
	ci, o := v.locate(i)
	if err := v.load(ci); err != nil {
		return crdt.OpID{}, 0, err
	}
	c := v.chunks[ci]
	j, k := c.find(o)
	if j == len(c.entries) {
		return crdt.OpID{}, 0, fmt.Errorf("%w: chunk %d shorter than its directory says", ErrCorrupt, c.id)
	}
	return c.entries[j].ID, c.entries[j].Off + k, nil
}

// each calls f with the visible entries from index from on (the first cut
// to start there), until f returns false.
func (v *View) each(from uint64, f func(e Entry) bool) error {
	if from >= v.total {
		return nil
	}
	ci, o := v.locate(from)
	for ; ci < len(v.chunks); ci, o = ci+1, 0 {
		if err := v.load(ci); err != nil {
			return err
		}
		c := v.chunks[ci]
		j, k := c.find(o)
		for ; j < len(c.entries); j, k = j+1, 0 {
			e := c.entries[j]
			if k > 0 {
				_, e = splitEntry(e, k)
			}
			if !f(e) {
				return nil
			}
		}
	}
	return nil
}

// findScan bounds the chunks Find looks through.
const findScan = 32

// Find returns the visible index of RGA element id if it is in the last
// chunk (read if needed) or another chunk held in memory, at most findScan
// of them: where a sequence grows, appended to or edited where it was just
// edited. ok is false if it is not there (it may be elsewhere).
func (v *View) Find(id crdt.OpID) (index uint64, ok bool, err error) {
	if len(v.chunks) == 0 {
		return 0, false, nil
	}
	if err := v.load(len(v.chunks) - 1); err != nil {
		return 0, false, err
	}
	scanned := 0
	for ci := len(v.chunks) - 1; ci >= 0 && scanned < findScan; ci-- {
		c := v.chunks[ci]
		if c == nil || !c.loaded {
			continue
		}
		scanned++
		o := uint64(0)
		for _, e := range c.entries {
			if e.ID == id && e.Off == 0 {
				return v.prefix(ci) + o, true, nil
			}
			o += e.N
		}
	}
	return 0, false, nil
}

// Text returns a Text's visible characters [from, from+count) as UTF-8,
// count clamped to the end; from past the end is an error.
func (v *View) Text(from, count uint64) (string, error) {
	if from > v.total {
		return "", fmt.Errorf("index %d past the end (length %d)", from, v.total)
	}
	count = min(count, v.total-from)
	out := make([]byte, 0, min(count, 1<<16)) // count comes from a stored directory
	left := count
	err := v.each(from, func(e Entry) bool {
		if left == 0 {
			return false
		}
		if e.N > left {
			e, _ = splitEntry(e, left)
		}
		out = append(out, e.Val...)
		left -= e.N
		return left > 0
	})
	return string(out), err
}

// Values returns an RGA's visible values [from, from+count) (fewer at the
// end).
func (v *View) Values(from, count uint64) ([][]byte, error) {
	var out [][]byte
	err := v.each(from, func(e Entry) bool {
		if uint64(len(out)) >= count {
			return false
		}
		out = append(out, e.Val)
		return uint64(len(out)) < count
	})
	return out, err
}

// Ranges returns a Text's visible characters [i, i+count) as at most max
// ranges of runs, and how many characters they hold (count, unless max
// cut it short): what a delete of them names.
func (v *View) Ranges(i, count uint64, maxRanges int) ([]crdt.TextRange, uint64, error) {
	if i > v.total || count > v.total-i {
		return nil, 0, fmt.Errorf("characters [%d, %d) past the end (length %d)", i, i+count, v.total)
	}
	var out []crdt.TextRange
	covered := uint64(0)
	if count == 0 {
		return nil, 0, nil
	}
	err := v.each(i, func(e Entry) bool {
		k := min(e.N, count-covered)
		out = append(out, crdt.TextRange{Run: e.ID, Off: e.Off, N: k})
		covered += k
		return covered < count && len(out) < maxRanges
	})
	return out, covered, err
}

// ---- edits ----

// Insert puts e so that its first element has visible index i (0 … Len).
// The caller has checked that the insert lands there (its op is newer than
// MaxHLC, its parent the element at i-1); hlc raises MaxHLC.
func (v *View) Insert(i uint64, e Entry, hlc uint64) error {
	if i > v.total {
		return fmt.Errorf("index %d past the end (length %d)", i, v.total)
	}
	if e.N == 0 {
		return nil
	}
	ci, o := v.locate(i)
	if ci < 0 {
		v.chunks = append(v.chunks, &chunk{id: v.nextID, loaded: true})
		v.ids = append(v.ids, v.nextID)
		v.lens = append(v.lens, 0)
		v.nextID++
		v.loaded++
		v.rebuild()
		ci, o = 0, 0
	}
	if err := v.load(ci); err != nil {
		return err
	}
	c := v.chunks[ci]
	j, k := c.find(o)
	if k == 0 && (j == 0 || j == len(c.entries)) && (len(c.entries) >= maxChunkEntries || c.bytes+entryBytes(e) > maxChunkBytes) {
		// At the edge of a full chunk (text typed at the start, a log
		// appended to): a chunk of its own, the full one left as it is.
		if j > 0 {
			ci++
		}
		v.chunks = slices.Insert(v.chunks, ci, &chunk{id: v.nextID, n: e.N, entries: []Entry{e}, bytes: entryBytes(e), loaded: true, dirty: true})
		v.lens = slices.Insert(v.lens, ci, e.N)
		v.ids = slices.Insert(v.ids, ci, v.nextID)
		v.nextID++
		v.loaded++
		v.total += e.N
		v.maxHLC = max(v.maxHLC, hlc)
		v.dirDirty = true
		v.rebuild()
		return nil
	}
	if k > 0 {
		l, r := splitEntry(c.entries[j], k)
		c.entries[j] = r
		c.entries = slices.Insert(c.entries, j, l)
		c.bytes += 12
		j++
	}
	c.entries = slices.Insert(c.entries, j, e)
	c.n += e.N
	c.bytes += entryBytes(e)
	c.dirty = true
	v.total += e.N
	v.addLen(ci, e.N, false)
	v.maxHLC = max(v.maxHLC, hlc)
	v.dirDirty = true
	if len(c.entries) > maxChunkEntries || c.bytes > maxChunkBytes {
		v.split(ci)
	}
	return nil
}

// split cuts chunk ci in two halves.
func (v *View) split(ci int) {
	c := v.chunks[ci]
	h := len(c.entries) / 2
	if h == 0 {
		return // one large entry: it stays whole
	}
	right := &chunk{id: v.nextID, loaded: true, dirty: true, entries: slices.Clone(c.entries[h:])}
	v.nextID++
	c.entries = c.entries[:h] // the right half is a copy: the array is the left's
	c.n, c.bytes = 0, 0
	for _, e := range c.entries {
		c.n += e.N
		c.bytes += entryBytes(e)
	}
	for _, e := range right.entries {
		right.n += e.N
		right.bytes += entryBytes(e)
	}
	v.chunks = slices.Insert(v.chunks, ci+1, right)
	v.lens[ci] = c.n
	v.lens = slices.Insert(v.lens, ci+1, right.n)
	v.ids = slices.Insert(v.ids, ci+1, right.id)
	v.loaded++
	v.rebuild()
}

// Delete removes the visible elements [i, i+count).
func (v *View) Delete(i, count uint64) error {
	if i > v.total || count > v.total-i {
		return fmt.Errorf("elements [%d, %d) past the end (length %d)", i, i+count, v.total)
	}
	for count > 0 {
		ci, o := v.locate(i)
		if err := v.load(ci); err != nil {
			return err
		}
		c := v.chunks[ci]
		j, k := c.find(o)
		if j == len(c.entries) {
			return fmt.Errorf("%w: chunk %d shorter than its directory says", ErrCorrupt, c.id)
		}
		e := c.entries[j]
		take := min(e.N-k, count)
		var keep []Entry
		if k > 0 {
			l, _ := splitEntry(e, k)
			keep = append(keep, l)
		}
		if k+take < e.N {
			_, r := splitEntry(e, k+take)
			keep = append(keep, r)
		}
		c.entries = slices.Replace(c.entries, j, j+1, keep...)
		c.bytes += 12 * (len(keep) - 1)
		c.bytes -= len(e.Val) - valLen(keep)
		c.n -= take
		c.dirty = true
		v.total -= take
		v.dels += take
		count -= take
		v.dirDirty = true
		if c.n == 0 {
			v.gone = append(v.gone, c.id)
			v.chunks = slices.Delete(v.chunks, ci, ci+1)
			v.lens = slices.Delete(v.lens, ci, ci+1)
			v.ids = slices.Delete(v.ids, ci, ci+1)
			v.loaded--
			v.rebuild()
		} else {
			v.addLen(ci, take, true)
		}
	}
	return nil
}

func valLen(es []Entry) int {
	n := 0
	for _, e := range es {
		n += len(e.Val)
	}
	return n
}

// ---- storage ----

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

func (d *reader) v() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
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
