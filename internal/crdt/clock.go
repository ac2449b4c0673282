package crdt

// Clock is a hybrid logical clock: physical milliseconds in the high 48
// bits, a logical counter in the low 16. Next never returns a value at or
// below one it returned or observed before, even if the wall clock goes
// back; Restore makes that hold across restarts.
type Clock struct {
	last uint64
	// Wall returns Unix milliseconds.
	Wall func() int64
}

const logicalBits = 16

// HLCTime returns the physical milliseconds of an HLC value.
func HLCTime(h uint64) int64 { return int64(h >> logicalBits) }

// HLCAt returns the smallest HLC value of wall time ms (milliseconds).
func HLCAt(ms int64) uint64 { return uint64(ms) << logicalBits }

// Next returns a timestamp greater than every one seen so far.
func (c *Clock) Next() uint64 {
	wall := HLCAt(c.Wall())
	if wall > c.last {
		c.last = wall
	} else {
		c.last++ // same or earlier millisecond: bump the logical counter
	}
	return c.last
}

// Observe advances the clock past a remote timestamp.
func (c *Clock) Observe(h uint64) {
	if h > c.last {
		c.last = h
	}
}

// Last returns the largest timestamp returned or observed.
func (c *Clock) Last() uint64 { return c.last }

// Restore sets the floor after a restart (the largest timestamp persisted).
func (c *Clock) Restore(h uint64) { c.Observe(h) }

// MaxHLC returns the largest op timestamp an object holds (0 for the types
// that keep none): a node that takes an object from a snapshot observes it,
// so that its next op is stamped after everything it has seen (an RGA or
// Text insert must sort ahead of the elements its writer knew).
func MaxHLC(obj Object) uint64 {
	var h uint64
	switch o := obj.(type) {
	case *LWWRegister:
		h = o.Stamp.HLC
	case *LWWMap:
		o.each(func(_ string, e MapEntry) bool {
			h = max(h, e.Stamp.HLC)
			return true
		})
	case *RGA:
		for _, e := range o.Elems {
			h = max(h, e.HLC)
		}
	case *Text:
		for r := range o.runs.all() {
			h = max(h, r.hlc)
		}
	}
	return h
}
