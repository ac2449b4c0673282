package crdt

// Memory estimates of the sequence types, for a replica that keeps them in
// memory while used and unloads them past its cache (State.Unload). They
// are counted from sizes the objects keep (O(1)), calibrated on amd64 with
// Go 1.26 by building 200,000-element objects and reading the heap: a
// one-character Text run typed after the last took 201.3 bytes (its piece,
// index entry and rune included), an RGA element with an 8-byte value
// 325.9 bytes.
const (
	textRunBytes  = 200
	textRuneBytes = 4
	rgaElemBytes  = 320
)

// MemBytes estimates the memory the text takes: its runs and, beyond one
// per run, its visible code points.
func (t *Text) MemBytes() int64 {
	n := t.runs.len()
	return int64(n)*textRunBytes + int64(max(t.Len()-n, 0))*textRuneBytes
}

// MemBytes estimates the memory the RGA takes.
func (r *RGA) MemBytes() int64 { return int64(len(r.Elems)) * rgaElemBytes }
