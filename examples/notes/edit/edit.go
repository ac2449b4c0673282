// Package edit turns two versions of a note into one edit and moves an
// edit past a concurrent one (examples/notes: the node and the page do the
// same).
package edit

// Edit replaces Del characters at Pos with Ins (positions in code points).
type Edit struct {
	Pos, Del int
	Ins      string
}

// Diff returns the one edit that turns a into b: what lies between their
// common prefix and common suffix.
func Diff(a, b []rune) Edit {
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	s := 0
	for s < len(a)-p && s < len(b)-p && a[len(a)-1-s] == b[len(b)-1-s] {
		s++
	}
	return Edit{Pos: p, Del: len(a) - p - s, Ins: string(b[p : len(b)-s])}
}

// Rebase moves mine, an edit of a base text, onto the text theirs (another
// edit of the same base) made, as edits to apply in order. Mine lands after
// theirs when theirs lies before it (or inserts at the same place), and
// stays when theirs lies after it. Where both change the same characters,
// mine deletes what it deleted and theirs kept, and never what theirs
// inserted.
func Rebase(mine, theirs Edit) []Edit {
	tIns := len([]rune(theirs.Ins))
	start, end := mine.Pos, mine.Pos+mine.Del
	tStart, tEnd := theirs.Pos, theirs.Pos+theirs.Del
	switch {
	case theirs.Del == 0 && tIns == 0:
		return []Edit{mine}
	case tEnd <= start:
		mine.Pos += tIns - theirs.Del
		return []Edit{mine}
	case end <= tStart:
		return []Edit{mine}
	case start < tStart:
		// Mine's deletion begins before theirs: that part goes with mine's
		// insert; the part after theirs (if any) follows theirs' insert.
		first := Edit{Pos: start, Del: tStart - start, Ins: mine.Ins}
		if end <= tEnd {
			return []Edit{first}
		}
		return []Edit{first, {Pos: start + len([]rune(mine.Ins)) + tIns, Del: end - tEnd}}
	}
	return []Edit{{Pos: tStart + tIns, Del: max(0, end-tEnd), Ins: mine.Ins}}
}
