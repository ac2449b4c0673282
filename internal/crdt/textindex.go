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
	// dense holds the runs of seqs [base, base+len(dense)) by seq - base
	// (nil: no run), while the origin's seqs come nearly in order, as
	// typing makes them: a look-up indexes an array and a run takes 8
	// bytes. sparse holds the others.
	base   uint64
	dense  []*textRun
	held   int // the runs in dense
	sparse map[uint64]*textRun
	// top is the largest seq this origin's runs have had: an insert
	// with a larger one is new without a look-up.
	top uint64
}

// len returns the number of runs o holds.
func (o *originRuns) len() int { return o.held + len(o.sparse) }

// denseSlack is how far dense may outgrow twice the runs it holds: the
// seqs between an origin's runs (its deletes, its ops on other objects)
// take a slot each.
const denseSlack = 64

// get returns seq's run: in dense, else in sparse (which may hold a seq
// dense came to span after it was put).
func (o *originRuns) get(seq uint64) *textRun {
	if i := seq - o.base; i < uint64(len(o.dense)) && o.dense[i] != nil {
		return o.dense[i]
	}
	if o.sparse == nil {
		return nil
	}
	return o.sparse[seq]
}

// put adds r, whose seq o does not hold.
func (o *originRuns) put(r *textRun) {
	seq := r.id.Seq
	o.top = max(o.top, seq)
	switch i := seq - o.base; {
	case o.held == 0:
		o.base, o.dense, o.held = seq, append(o.dense[:0], r), 1
		return
	case i < uint64(len(o.dense)):
		o.dense[i] = r
		o.held++
		return
	case seq > o.base && i+1 <= uint64(2*o.held+denseSlack):
		for uint64(len(o.dense)) < i {
			o.dense = append(o.dense, nil)
		}
		o.dense = append(o.dense, r)
		o.held++
		return
	}
	if o.sparse == nil {
		o.sparse = map[uint64]*textRun{}
	}
	o.sparse[seq] = r
}

// del removes seq's run, reporting whether o held it.
func (o *originRuns) del(seq uint64) bool {
	if i := seq - o.base; i < uint64(len(o.dense)) && o.dense[i] != nil {
		o.dense[i] = nil
		o.held--
		for len(o.dense) > 0 && o.dense[0] == nil {
			o.dense, o.base = o.dense[1:], o.base+1
		}
		if o.held*4 < len(o.dense) && len(o.dense) > 4*denseSlack {
			// Mostly holes (collected runs): the rest goes to sparse.
			if o.sparse == nil {
				o.sparse = map[uint64]*textRun{}
			}
			for j, r := range o.dense {
				if r != nil {
					o.sparse[o.base+uint64(j)] = r
				}
			}
			o.dense, o.held = nil, 0
		}
		return true
	}
	if _, ok := o.sparse[seq]; !ok {
		return false
	}
	delete(o.sparse, seq)
	return true
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
		return o.get(id.Seq)
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
		o = &originRuns{origin: r.id.Origin}
		x.origins[r.id.Origin] = o
		x.last = o
	}
	o.put(r)
	x.n++
}

// del removes run id if the index holds it.
func (x *runIndex) del(id OpID) {
	o := x.of(id.Origin)
	if o == nil || !o.del(id.Seq) {
		return
	}
	x.n--
	if o.len() == 0 {
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
			for _, r := range o.dense {
				if r != nil && !yield(r) {
					return
				}
			}
			for _, r := range o.sparse {
				if !yield(r) {
					return
				}
			}
		}
	}
}

// run returns run id, nil when the Text does not have it.
func (t *Text) run(id OpID) *textRun {
	for _, r := range t.hot {
		if r != nil && r.id.Seq == id.Seq && r.id.Origin == id.Origin {
			return r
		}
	}
	r := t.runs.get(id)
	if r != nil {
		t.remember(r)
	}
	return r
}

// remember puts r among the hot runs.
func (t *Text) remember(r *textRun) {
	t.hot[t.next] = r
	t.next = (t.next + 1) % len(t.hot)
}

// forget drops run id from the Text (its deleted spans too) and the hot
// runs.
func (t *Text) forget(id OpID) {
	t.runs.del(id)
	delete(t.early, id)
	t.hot = [len(t.hot)]*textRun{}
}

// spans returns run id's deleted spans, whether or not the run is here.
func (t *Text) spans(id OpID) []span {
	if r := t.run(id); r != nil {
		return r.dels()
	}
	return t.early[id]
}
