package replica

import (
	"errors"
	"math/rand/v2"
	"sort"
	"sync"
	"time"
)

// MemNet is an in-memory network of replicas for tests: messages are
// delivered on goroutines after a random delay (so they reorder), and can be
// dropped, duplicated, or blocked by partitions. Without faults each link
// delivers in order, as a TCP link does; a message its receiver refuses
// closes the link, which is dialed again, as the transport does.
type MemNet struct {
	// mu guards everything below.
	mu      sync.Mutex
	nodes   map[string]*Replica
	blocked map[[2]string]bool
	// links, once SetLinks is used, holds the peers each node chose: two
	// nodes are linked when either chose the other. Nil: a full mesh.
	links    map[string]map[string]bool
	rng      *rand.Rand
	drop     float64
	dup      float64
	maxDelay time.Duration
	closed   bool
	wg       sync.WaitGroup
	// fifo orders each link's deliveries when there are no faults.
	fifo map[[2]string]*fifo
	// lose, if set, loses every message for which it returns true.
	lose func(from, to string, m *Message) bool
}

// fifo hands out turns for one direction of one link: next is the next
// ticket (guarded by MemNet.mu), turn the one being delivered (guarded by
// mu, which a delivery holds while the receiver handles it).
type fifo struct {
	mu   sync.Mutex
	cond *sync.Cond
	next uint64
	turn uint64
}

// NewMemNet returns an empty network with no faults, seeded for
// repeatability of the fault draws.
func NewMemNet(seed uint64) *MemNet {
	return &MemNet{nodes: map[string]*Replica{}, blocked: map[[2]string]bool{},
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// SetFaults sets the drop and duplicate probabilities and the largest
// delivery delay.
func (n *MemNet) SetFaults(drop, dup float64, maxDelay time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.drop, n.dup, n.maxDelay = drop, dup, maxDelay
}

// SetLoss loses every message for which lose returns true (nil: none), on
// top of the random faults: a link that fails for some messages only.
func (n *MemNet) SetLoss(lose func(from, to string, m *Message) bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.lose = lose
}

// Endpoint returns the Transport for node id; Attach the replica after
// opening it.
func (n *MemNet) Endpoint(id string) Transport { return &memEndpoint{net: n, id: id} }

// Attach registers a replica under its NodeId and tells the others it is up.
func (n *MemNet) Attach(r *Replica) {
	n.mu.Lock()
	n.nodes[r.NodeID()] = r
	var up []*Replica
	for id, o := range n.nodes {
		if id != r.NodeID() && n.reachable(id, r.NodeID()) {
			up = append(up, o)
		}
	}
	n.mu.Unlock()
	for _, o := range up {
		o.PeerUp(r.NodeID())
		r.PeerUp(o.NodeID())
	}
}

// Detach removes a node (it is down) and tells the nodes linked to it.
func (n *MemNet) Detach(id string) {
	n.mu.Lock()
	var down []*Replica
	for other, r := range n.nodes {
		if other != id && n.reachable(id, other) {
			down = append(down, r)
		}
	}
	delete(n.nodes, id)
	n.mu.Unlock()
	for _, r := range down {
		r.PeerDown(id)
	}
}

// reachable says whether a and b are linked and not partitioned; n.mu is
// held.
func (n *MemNet) reachable(a, b string) bool {
	if n.blocked[pair(a, b)] {
		return false
	}
	return n.links == nil || n.links[a][b] || n.links[b][a]
}

// SetLinks sets the peers node id chose to link to (as discovery does);
// pairs newly linked are told they are up, so they pull at once.
func (n *MemNet) SetLinks(id string, peers []string) {
	n.mu.Lock()
	if n.links == nil {
		n.links = map[string]map[string]bool{}
	}
	before := map[string]bool{}
	for other := range n.nodes {
		if other != id && n.reachable(id, other) {
			before[other] = true
		}
	}
	chosen := map[string]bool{}
	for _, p := range peers {
		chosen[p] = true
	}
	n.links[id] = chosen
	self := n.nodes[id]
	var up, down []*Replica
	for other, r := range n.nodes {
		if other == id {
			continue
		}
		now := n.reachable(id, other)
		switch {
		case now && !before[other]:
			up = append(up, r)
		case !now && before[other]:
			down = append(down, r)
		}
	}
	n.mu.Unlock()
	if self == nil {
		return
	}
	for _, r := range down {
		r.PeerDown(id)
		self.PeerDown(r.NodeID())
	}
	for _, r := range up {
		r.PeerUp(id)
		self.PeerUp(r.NodeID())
	}
}

func pair(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

// Partition cuts every link between the two groups and tells the nodes.
func (n *MemNet) Partition(a, b []string) {
	n.mu.Lock()
	type cut struct {
		r    *Replica
		peer string
	}
	var cuts []cut
	for _, x := range a {
		for _, y := range b {
			if n.reachable(x, y) {
				if rx, ry := n.nodes[x], n.nodes[y]; rx != nil && ry != nil {
					cuts = append(cuts, cut{rx, y}, cut{ry, x})
				}
			}
			n.blocked[pair(x, y)] = true
		}
	}
	n.mu.Unlock()
	for _, c := range cuts {
		c.r.PeerDown(c.peer)
	}
}

// Heal restores every link and tells each pair it is up again.
func (n *MemNet) Heal() {
	n.mu.Lock()
	healed := n.blocked
	n.blocked = map[[2]string]bool{}
	nodes := make([]*Replica, 0, len(n.nodes))
	for _, r := range n.nodes {
		nodes = append(nodes, r)
	}
	var ups [][2]*Replica
	for p := range healed {
		if a, b := n.nodes[p[0]], n.nodes[p[1]]; a != nil && b != nil && n.reachable(p[0], p[1]) {
			ups = append(ups, [2]*Replica{a, b})
		}
	}
	n.mu.Unlock()
	for _, u := range ups {
		u[0].PeerUp(u[1].NodeID())
		u[1].PeerUp(u[0].NodeID())
	}
	for _, r := range nodes {
		r.AntiEntropy()
	}
}

// relink does what the transport does when a node refuses a message: the
// link closes (both ends forget what it carried) and is dialed again. It
// runs apart from the delivery that refused, which holds its link's turn.
func (n *MemNet) relink(a, b string) {
	n.mu.Lock()
	ra, rb := n.nodes[a], n.nodes[b]
	if ra == nil || rb == nil || n.closed {
		n.mu.Unlock()
		return
	}
	n.wg.Add(1)
	n.mu.Unlock()
	go func() {
		defer n.wg.Done()
		ra.PeerDown(b)
		rb.PeerDown(a)
		n.mu.Lock()
		up := n.reachable(a, b) && n.nodes[a] == ra && n.nodes[b] == rb
		n.mu.Unlock()
		if up {
			ra.PeerUp(b)
			rb.PeerUp(a)
		}
	}()
}

// Close waits for messages in flight; later sends fail.
func (n *MemNet) Close() {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.wg.Wait()
}

var errUnreachable = errors.New("memnet: peer unreachable")

type memEndpoint struct {
	net *MemNet
	id  string
}

func (e *memEndpoint) Peers() []string {
	n := e.net
	n.mu.Lock()
	defer n.mu.Unlock()
	var ps []string
	for id := range n.nodes {
		if id != e.id && n.reachable(id, e.id) {
			ps = append(ps, id)
		}
	}
	sort.Strings(ps)
	return ps
}

func (e *memEndpoint) Send(peer string, m *Message) error {
	n := e.net
	n.mu.Lock()
	to, ok := n.nodes[peer]
	if n.closed || !ok || !n.reachable(peer, e.id) {
		n.mu.Unlock()
		return errUnreachable
	}
	if n.rng.Float64() < n.drop || n.lose != nil && n.lose(e.id, peer, m) {
		n.mu.Unlock()
		return nil // lost on the way: the sender cannot tell
	}
	copies := 1
	if n.rng.Float64() < n.dup {
		copies = 2
	}
	delays := make([]time.Duration, copies)
	for i := range delays {
		if n.maxDelay > 0 {
			delays[i] = time.Duration(n.rng.Int64N(int64(n.maxDelay)))
		}
	}
	var q *fifo
	var ticket uint64
	if n.maxDelay == 0 && copies == 1 {
		if n.fifo == nil {
			n.fifo = map[[2]string]*fifo{}
		}
		k := [2]string{e.id, peer}
		if q = n.fifo[k]; q == nil {
			q = &fifo{}
			q.cond = sync.NewCond(&q.mu)
			n.fifo[k] = q
		}
		ticket = q.next // under n.mu, which orders the sends
		q.next++
	}
	n.wg.Add(copies)
	n.mu.Unlock()
	for _, d := range delays {
		go func() {
			defer n.wg.Done()
			if d > 0 {
				time.Sleep(d)
			}
			if q != nil {
				q.mu.Lock()
				for q.turn != ticket {
					q.cond.Wait()
				}
				defer func() { q.turn++; q.cond.Broadcast(); q.mu.Unlock() }()
			}
			n.mu.Lock()
			reachable := n.reachable(peer, e.id) && n.nodes[peer] == to
			n.mu.Unlock()
			if reachable {
				if err := to.Handle(e.id, m); err != nil && !errors.Is(err, ErrClosed) {
					n.relink(e.id, peer)
				}
			}
		}()
	}
	return nil
}
