package crdt

import "iter"

// runIndex finds a Text's runs by id: by origin (a handful per text), then
// by seq, so a look-up hashes a number, not the origin's string, and an
// entry takes 16 bytes instead of 32.
type runIndex struct {
	origins map[string]*originRuns
	n       int
	// last is the origin used last: typing names one origin after
	// another.
	last *originRuns
}

type originRuns struct {
	origin string
	runs   map[uint64]*textRun
	// top is the largest seq this origin's runs have had: an insert
	// with a larger one is new without a look-up.
	top uint64
}

// of returns origin's runs, nil if the index has none.
func (x *runIndex) of(origin string) *originRuns {
	if l := x.last; l != nil && l.origin == origin {
		return l
	}
	o := x.origins[origin]
	if o != nil {
		x.last = o
	}
	return o
}

func (x *runIndex) get(id OpID) *textRun {
	if o := x.of(id.Origin); o != nil {
		return o.runs[id.Seq]
	}
	return nil
}

// fresh reports whether id is newer than every run of its origin the index
// has had, so that put needs no look-up for it first.
func (x *runIndex) fresh(id OpID) bool {
	o := x.of(id.Origin)
	return o == nil || id.Seq > o.top
}

// put adds r, whose id the index does not hold.
func (x *runIndex) put(r *textRun) {
	o := x.of(r.id.Origin)
	if o == nil {
		if x.origins == nil {
			x.origins = map[string]*originRuns{}
		}
		o = &originRuns{origin: r.id.Origin, runs: map[uint64]*textRun{}}
		x.origins[r.id.Origin] = o
		x.last = o
	}
	o.runs[r.id.Seq] = r
	o.top = max(o.top, r.id.Seq)
	x.n++
}

// del removes run id if the index holds it.
func (x *runIndex) del(id OpID) {
	o := x.of(id.Origin)
	if o == nil {
		return
	}
	if _, ok := o.runs[id.Seq]; !ok {
		return
	}
	delete(o.runs, id.Seq)
	x.n--
	if len(o.runs) == 0 {
		delete(x.origins, id.Origin)
		x.last = nil
	}
}

// len returns the number of runs.
func (x *runIndex) len() int { return x.n }

// all yields every run, in no order.
func (x *runIndex) all() iter.Seq[*textRun] {
	return func(yield func(*textRun) bool) {
		for _, o := range x.origins {
			for _, r := range o.runs {
				if !yield(r) {
					return
				}
			}
		}
	}
}
