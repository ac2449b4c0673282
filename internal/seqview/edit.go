package seqview

import (
	"fmt"
	"slices"
)

// Edits: inserts and deletes by position, chunks split as they fill.

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
