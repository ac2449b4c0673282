package gossip_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/gossip"
	"github.com/numax/numax/internal/replica"
	"github.com/numax/numax/internal/store"
)

// faultyNet is an in-memory network for memberlist with packet loss and a
// partition: packets are delivered like UDP (dropped when lost, cut, or the
// receiver is down or behind), streams are net.Pipe pairs.
type faultyNet struct {
	// mu guards everything below.
	mu    sync.Mutex
	rng   *rand.Rand
	drop  float64
	next  int
	nodes map[string]*faultyTransport // by address, while up
	side  map[string]int              // by address: which half, while split
	split bool
}

func (n *faultyNet) newTransport() *faultyTransport {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.next++
	t := &faultyTransport{net: n, addr: fmt.Sprintf("10.0.%d.%d:7946", n.next/250, n.next%250+1),
		packets: make(chan *memberlist.Packet, 4096), streams: make(chan net.Conn, 64)}
	n.nodes[t.addr] = t
	return t
}

// route returns the destination, or nil when the message is lost.
func (n *faultyNet) route(from, to string, lossy bool) *faultyTransport {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.split && n.side[from] != n.side[to] {
		return nil
	}
	if lossy && n.rng.Float64() < n.drop {
		return nil
	}
	return n.nodes[to]
}

type faultyTransport struct {
	net     *faultyNet
	addr    string
	packets chan *memberlist.Packet
	streams chan net.Conn
}

type memAddr string

func (a memAddr) Network() string { return "mem" }
func (a memAddr) String() string  { return string(a) }

func (t *faultyTransport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	host, port, _ := net.SplitHostPort(t.addr)
	p, _ := strconv.Atoi(port)
	return net.ParseIP(host), p, nil
}

func (t *faultyTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	now := time.Now()
	if dst := t.net.route(t.addr, addr, true); dst != nil {
		select {
		case dst.packets <- &memberlist.Packet{Buf: append([]byte(nil), b...), From: memAddr(t.addr), Timestamp: now}:
		default: // receiver behind: lost, like a full UDP buffer
		}
	}
	return now, nil
}

func (t *faultyTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }

func (t *faultyTransport) DialTimeout(addr string, d time.Duration) (net.Conn, error) {
	dst := t.net.route(t.addr, addr, false)
	if dst == nil {
		return nil, fmt.Errorf("no route to %s", addr)
	}
	a, b := net.Pipe()
	select {
	case dst.streams <- b:
		return a, nil
	case <-time.After(d):
		a.Close()
		b.Close()
		return nil, fmt.Errorf("dial %s: timeout", addr)
	}
}

func (t *faultyTransport) StreamCh() <-chan net.Conn { return t.streams }

func (t *faultyTransport) Shutdown() error {
	t.net.mu.Lock()
	delete(t.net.nodes, t.addr)
	t.net.mu.Unlock()
	return nil
}

// cluster is n nodes: a store, a replica on a MemNet restricted to the
// links each node chooses from its membership, and a membership.
type cluster struct {
	t     testing.TB
	net   *faultyNet
	mem   *replica.MemNet
	nodes []*member
	seed  string // gossip address of node 0
}

type member struct {
	dir    string
	id     string
	st     *store.Store
	r      *replica.Replica
	ms     *gossip.Membership
	addr   string
	mu     sync.Mutex
	chosen gossip.Links
}

func newCluster(t testing.TB, n int, drop float64) *cluster {
	c := &cluster{t: t, net: &faultyNet{rng: rand.New(rand.NewPCG(1, 2)), drop: drop, nodes: map[string]*faultyTransport{},
		side: map[string]int{}}, mem: replica.NewMemNet(7)}
	c.mem.SetFaults(drop, 0, 2*time.Millisecond)
	c.nodes = make([]*member, n)
	for i := range c.nodes {
		c.nodes[i] = &member{dir: t.TempDir()}
		c.start(i)
	}
	t.Cleanup(func() {
		for i := range c.nodes {
			c.stop(i)
		}
		c.mem.Close()
	})
	return c
}

func (c *cluster) start(i int) {
	t := c.t
	m := c.nodes[i]
	st, err := store.Open(store.DefaultConfig(m.dir))
	if err != nil {
		t.Fatal(err)
	}
	m.st = st
	id, err := replica.Identity(st, "", false, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	m.id = id
	var ms *gossip.Membership
	var mu sync.Mutex
	cfg := replica.DefaultConfig()
	cfg.Store, cfg.NodeID, cfg.Transport = st, id, c.mem.Endpoint(id)
	cfg.RandomPullInterval = 300 * time.Millisecond
	if m.r, err = replica.Open(cfg); err != nil {
		t.Fatal(err)
	}
	c.mem.Attach(m.r)
	mt := c.net.newTransport()
	m.addr = mt.addr
	var seeds []string
	if i > 0 {
		seeds = []string{c.seed}
	}
	relink := func() {
		mu.Lock()
		s := ms
		mu.Unlock()
		if s == nil {
			return
		}
		members := s.Members()
		m.mu.Lock()
		m.chosen.Choose(members, replica.DefaultFanout(s.Size()))
		ids := make([]string, 0, len(members))
		for _, mb := range members {
			if m.chosen.Chosen(mb.NodeID) {
				ids = append(ids, mb.NodeID)
			}
		}
		m.mu.Unlock()
		c.mem.SetLinks(m.id, ids)
	}
	s, err := gossip.Start(gossip.Config{NodeID: id, LinkAddr: "mem:" + id, Seeds: seeds,
		Transport: mt, ProbeInterval: 500 * time.Millisecond,
		OnChange: relink})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	ms = s
	mu.Unlock()
	m.ms = s
	relink()
	if i == 0 {
		c.seed = m.addr
	}
}

func (c *cluster) stop(i int) {
	m := c.nodes[i]
	if m.ms == nil {
		return
	}
	_ = m.ms.Close()
	c.mem.Detach(m.id)
	_ = m.r.Close(context.Background())
	_ = m.st.Close()
	m.ms = nil
}

func (c *cluster) write(ops int) {
	for _, m := range c.nodes {
		for k := 0; k < ops; k++ {
			for {
				_, err := m.r.Write(context.Background(), &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1}, nil)
				if err == nil {
					break
				}
				if err != replica.ErrBackpressure {
					c.t.Fatal(err)
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
}

func value(r *replica.Replica) uint64 {
	var v uint64
	r.Read(crdt.ObjKey{Type: crdt.TypeGCounter, Key: "c"}, func(o crdt.Object) {
		if o != nil {
			v = o.(*crdt.GCounter).Value()
		}
	})
	return v
}

// converged waits until every node counts want and holds the same ops.
func (c *cluster) converged(want uint64, timeout time.Duration) time.Duration {
	c.t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		ok := true
		first := fmt.Sprint(c.nodes[0].r.VV())
		for _, m := range c.nodes {
			if value(m.r) != want || fmt.Sprint(m.r.VV()) != first {
				ok = false
				break
			}
		}
		if ok {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			var got []uint64
			var links, members []int
			for _, m := range c.nodes {
				got = append(got, value(m.r))
				links = append(links, len(m.r.Peers()))
				members = append(members, m.ms.Size())
			}
			c.t.Fatalf("not converged to %d within %v: values %v, links %v, members %v", want, timeout, got, links, members)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// allMembers waits until every node knows nearly every other (with 10%
// packet loss on two loaded cores a member may be briefly suspected).
func (c *cluster) allMembers(timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok := true
		for _, m := range c.nodes {
			if m.ms.Size() < len(c.nodes)*9/10 {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			var sizes []int
			for _, m := range c.nodes {
				sizes = append(sizes, m.ms.Size())
			}
			c.t.Fatalf("membership sizes after %v: %v", timeout, sizes)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// splitHalves cuts the cluster into even and odd nodes (membership
// packets and op links) and waits until each half sees the other failed.
func (c *cluster) splitHalves() {
	c.t.Helper()
	c.net.mu.Lock()
	for i, m := range c.nodes {
		c.net.side[m.addr] = i % 2
	}
	c.net.split = true
	c.net.mu.Unlock()
	var a, b []string
	for i, m := range c.nodes {
		if i%2 == 0 {
			a = append(a, m.id)
		} else {
			b = append(b, m.id)
		}
	}
	c.mem.Partition(a, b)
	deadline := time.Now().Add(60 * time.Second)
	for {
		split := true
		for _, m := range c.nodes {
			if m.ms.Size() > len(c.nodes)/2 {
				split = false
			}
		}
		if split {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatal("the halves did not see each other fail within 60 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// heal joins the halves again.
func (c *cluster) heal() {
	c.net.mu.Lock()
	c.net.split = false
	c.net.mu.Unlock()
	c.mem.Heal()
}

// BenchmarkGossip32Partition60s: 32 nodes (10 % loss) split into halves
// for 60 s, each half writing every second throughout, then healed. It
// reports how long after the heal every node held every op (target ≤ 30
// s) and how long until membership was whole again. Run by make bench
// (-benchtime 1x); a minute is too long for make test.
func BenchmarkGossip32Partition60s(b *testing.B) {
	const n, every = 32, time.Second
	for b.Loop() {
		c := newCluster(b, n, 0.10)
		c.allMembers(60 * time.Second)
		c.splitHalves()
		start, writes := time.Now(), 0
		for time.Since(start) < 60*time.Second {
			c.write(1)
			writes++
			time.Sleep(every)
		}
		c.heal()
		healed := time.Now()
		d := c.converged(uint64(n*writes), 2*time.Minute)
		c.allMembers(2 * time.Minute)
		b.ReportMetric(d.Seconds(), "s-to-converge")
		b.ReportMetric(time.Since(healed).Seconds(), "s-to-members")
		b.ReportMetric(float64(n*writes), "ops-written-while-split")
	}
}

// TestGossip32 runs 32 nodes, each linked only to the few members it
// chose, with 10% of op messages and of membership packets lost: every op
// reaches every node exactly once; then a split into halves with writes
// on both, and a rolling restart of every node.
func TestGossip32(t *testing.T) {
	if testing.Short() {
		t.Skip("32 nodes: not in -short")
	}
	const n, ops = 32, 20
	c := newCluster(t, n, 0.10)
	c.allMembers(30 * time.Second)
	for _, m := range c.nodes {
		if links := len(m.r.Peers()); links >= n-1 {
			t.Fatalf("node linked to %d of %d: not a bounded subset", links, n-1)
		}
	}
	c.write(ops)
	d := c.converged(n*ops, 60*time.Second)
	t.Logf("32 nodes, 10%% loss: converged %v after the writes", d)

	// Split into halves; both write; heal.
	c.splitHalves()
	c.write(ops)
	c.heal()
	// The halves first find each other again (memberlist, 10 % loss; slow
	// on a loaded machine), then the ops cross.
	healed := time.Now()
	c.allMembers(90 * time.Second)
	members := time.Since(healed)
	d = c.converged(2*n*ops, 60*time.Second)
	t.Logf("after a split into halves: members again %v after the heal, converged %v after that", members, d)

	// Rolling restart: each node leaves, comes back on a new address with
	// its datastore, and the cluster keeps converging.
	for i := range c.nodes {
		c.stop(i)
		c.start(i)
	}
	c.allMembers(60 * time.Second)
	c.write(ops)
	d = c.converged(3*n*ops, 60*time.Second)
	t.Logf("after a rolling restart: converged %v", d)
}
