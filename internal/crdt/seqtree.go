package crdt

// seqTree is a sequence kept in a splay tree keyed by position: each node
// is one item (a Text piece, an RGA element) with its visible length, and
// each subtree knows the visible length below it, so a position or a node
// resolves in O(log n) amortized. The tree holds the order; the types keep
// their own maps from ids to nodes.
type seqTree[T any] struct {
	root *seqNode[T]
}

type seqNode[T any] struct {
	val                 T
	vis                 int // this item's visible length
	sum                 int // visible length of the subtree
	left, right, parent *seqNode[T]
}

func seqSum[T any](n *seqNode[T]) int {
	if n == nil {
		return 0
	}
	return n.sum
}

func (n *seqNode[T]) update() { n.sum = seqSum(n.left) + seqSum(n.right) + n.vis }

// Len returns the visible length.
func (t *seqTree[T]) Len() int { return seqSum(t.root) }

func (t *seqTree[T]) rotate(x *seqNode[T]) {
	p := x.parent
	g := p.parent
	if p.left == x {
		p.left = x.right
		if x.right != nil {
			x.right.parent = p
		}
		x.right = p
	} else {
		p.right = x.left
		if x.left != nil {
			x.left.parent = p
		}
		x.left = p
	}
	p.parent = x
	x.parent = g
	switch {
	case g == nil:
		t.root = x
	case g.left == p:
		g.left = x
	default:
		g.right = x
	}
	p.update()
	x.update()
}

func (t *seqTree[T]) splay(x *seqNode[T]) {
	for x.parent != nil {
		p := x.parent
		if g := p.parent; g != nil {
			if (g.left == p) == (p.left == x) {
				t.rotate(p)
			} else {
				t.rotate(x)
			}
		}
		t.rotate(x)
	}
}

// at returns the node holding visible position i (0 <= i < Len) and i's
// offset within it, or nil.
func (t *seqTree[T]) at(i int) (*seqNode[T], int) {
	n := t.root
	for n != nil {
		if l := seqSum(n.left); i < l {
			n = n.left
			continue
		} else {
			i -= l
		}
		if i < n.vis {
			t.splay(n)
			return n, i
		}
		i -= n.vis
		n = n.right
	}
	return nil, 0
}

// next returns the node after n in order, or nil.
func (t *seqTree[T]) next(n *seqNode[T]) *seqNode[T] {
	if q := n.right; q != nil {
		for q.left != nil {
			q = q.left
		}
		return q
	}
	for n.parent != nil && n.parent.right == n {
		n = n.parent
	}
	return n.parent
}

// nextVisible returns the first node after n in order with a visible
// length, or nil: a subtree that holds none (deleted pieces not collected
// yet) is skipped whole, not walked.
func (t *seqTree[T]) nextVisible(n *seqNode[T]) *seqNode[T] {
	if q := n.right; q != nil && q.sum > 0 {
		return firstVisible(q)
	}
	for ; n.parent != nil; n = n.parent {
		p := n.parent
		if p.left != n {
			continue
		}
		if p.vis > 0 {
			return p
		}
		if q := p.right; q != nil && q.sum > 0 {
			return firstVisible(q)
		}
	}
	return nil
}

// firstVisible returns the first node with a visible length in the
// subtree of q, which holds some.
func firstVisible[T any](q *seqNode[T]) *seqNode[T] {
	for {
		switch {
		case q.left != nil && q.left.sum > 0:
			q = q.left
		case q.vis > 0:
			return q
		default:
			q = q.right
		}
	}
}

// first returns the first node, or nil.
func (t *seqTree[T]) first() *seqNode[T] {
	n := t.root
	for n != nil && n.left != nil {
		n = n.left
	}
	return n
}

// insertAfter links q into the order right after p (p nil: at the start).
func (t *seqTree[T]) insertAfter(p, q *seqNode[T]) {
	q.left, q.right, q.parent = nil, nil, nil
	if p == nil {
		if f := t.first(); f != nil {
			t.splay(f)
			f.left, q.parent = q, f
			q.update()
			f.update()
			return
		}
		t.root = q
		q.update()
		return
	}
	t.splay(p)
	q.right = p.right
	if q.right != nil {
		q.right.parent = q
	}
	p.right, q.parent = q, p
	q.update()
	p.update()
}

// setVis changes a node's visible length and the sums above it.
func (t *seqTree[T]) setVis(n *seqNode[T], vis int) {
	if n.vis == vis {
		return
	}
	t.splay(n)
	n.vis = vis
	n.update()
}

// walk visits the nodes in order without recursion.
func (t *seqTree[T]) walk(f func(*seqNode[T]) bool) {
	var stack []*seqNode[T]
	n := t.root
	for n != nil || len(stack) > 0 {
		for n != nil {
			stack = append(stack, n)
			n = n.left
		}
		n = stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if !f(n) {
			return
		}
		n = n.right
	}
}

// rebalance rebuilds the tree perfectly balanced, in O(n): a sequence
// built by appending (decoding, hydration) is a chain the splay tree would
// only straighten at the first access deep into it.
func (t *seqTree[T]) rebalance() {
	var ns []*seqNode[T]
	t.walk(func(n *seqNode[T]) bool { ns = append(ns, n); return true })
	var build func(lo, hi int, parent *seqNode[T]) *seqNode[T]
	build = func(lo, hi int, parent *seqNode[T]) *seqNode[T] {
		if lo >= hi {
			return nil
		}
		mid := (lo + hi) / 2
		n := ns[mid]
		n.parent = parent
		n.left = build(lo, mid, n)
		n.right = build(mid+1, hi, n)
		n.update()
		return n
	}
	t.root = build(0, len(ns), nil)
}

// remove unlinks n from the order.
func (t *seqTree[T]) remove(n *seqNode[T]) {
	t.splay(n)
	l, r := n.left, n.right
	n.left, n.right, n.parent = nil, nil, nil
	if l != nil {
		l.parent = nil
	}
	if r != nil {
		r.parent = nil
	}
	if l == nil {
		t.root = r
		return
	}
	t.root = l
	m := l
	for m.right != nil {
		m = m.right
	}
	t.splay(m) // the largest of the left part: it has no right child
	m.right = r
	if r != nil {
		r.parent = m
	}
	m.update()
}

// rank returns the visible length before node n.
func (t *seqTree[T]) rank(n *seqNode[T]) int {
	t.splay(n)
	return seqSum(n.left)
}
