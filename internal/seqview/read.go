package seqview

import (
	"fmt"

	"github.com/numax/numax/internal/crdt"
)

// Reads: positions, pages and the ranges a delete names.

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
