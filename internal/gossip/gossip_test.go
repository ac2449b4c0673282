package gossip

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/numax/numax/internal/testutil"
	"github.com/numax/numax/internal/transport"
)

// TestMain checks that no goroutine outlives the tests. memberlist's
// Shutdown does not join a probe already in flight: that goroutine waits
// for its ack timer (at most ProbeInterval plus ProbeTimeout) and then
// returns on its own. goleak's own retries give up after about half a
// second, so the check polls for up to 10 s; a goroutine still there
// then is a real leak and fails the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		var err error
		for deadline := time.Now().Add(10 * time.Second); ; {
			if err = goleak.Find(); err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "goleak: goroutines left after the tests: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// identity makes a node certificate signed by ca.
func identity(t *testing.T, ca transport.PEMPair, name string) *transport.Identity {
	t.Helper()
	pair, id, err := transport.NewNodeCert(ca, name, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(pair.Cert, pair.Key)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.Cert)
	return &transport.Identity{Cert: cert, CAs: pool, NodeID: id}
}

func newCA(t *testing.T) transport.PEMPair {
	t.Helper()
	ca, err := transport.NewCA("test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

type node struct {
	id *transport.Identity
	tr *TLSTransport
	m  *Membership
}

func start(t *testing.T, id *transport.Identity, allowed []string, seeds ...string) *node {
	t.Helper()
	tr, err := NewTLSTransport(TransportConfig{Listen: "127.0.0.1:0", TLS: id, AllowedPeers: allowed, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Start(Config{NodeID: id.NodeID, LinkAddr: "127.0.0.1:1" + fmt.Sprint(tr.Addr().Port%10000), Seeds: seeds,
		Transport: tr, AllowedPeers: allowed, ProbeInterval: 200 * time.Millisecond})
	if err != nil {
		tr.Shutdown()
		t.Fatal(err)
	}
	n := &node{id: id, tr: tr, m: m}
	t.Cleanup(func() { m.Close() })
	return n
}

func ids(ms []Member) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		out[m.NodeID] = m.LinkAddr
	}
	return out
}

func TestJoinOverTLSAndForeignCertRefused(t *testing.T) {
	ca := newCA(t)
	a := start(t, identity(t, ca, "a"), nil)
	seed := a.tr.Addr().String()
	b := start(t, identity(t, ca, "b"), nil, seed)
	c := start(t, identity(t, ca, "c"), nil, seed)
	for _, n := range []*node{a, b, c} {
		testutil.Eventually(t, 10*time.Second, n.id.NodeID+" sees the other two", func() bool { return len(n.m.Members()) == 2 })
	}
	// Each member's metadata is its link address.
	if got := ids(a.m.Members())[b.id.NodeID]; got != b.m.cfg.LinkAddr {
		t.Fatalf("a sees b's link address %q, want %q", got, b.m.cfg.LinkAddr)
	}

	// A node with a certificate from another CA completes no handshake:
	// it never joins, never learns a member, and nobody lists it.
	foreign := start(t, identity(t, newCA(t), "intruder"), nil, seed)
	// Several join attempts refused, then nothing admitted.
	testutil.Eventually(t, 20*time.Second, "the intruder's handshakes refused", func() bool { return a.tr.Rejects() >= 3 })
	if n := len(foreign.m.Members()); n != 0 {
		t.Fatalf("the intruder learned %d members", n)
	}
	for _, n := range []*node{a, b, c} {
		if _, ok := ids(n.m.Members())[foreign.id.NodeID]; ok {
			t.Fatalf("%s admitted the intruder", n.id.NodeID)
		}
	}
}

func TestAllowlistKeepsOutASignedStranger(t *testing.T) {
	ca := newCA(t)
	ia, ib, is := identity(t, ca, "a"), identity(t, ca, "b"), identity(t, ca, "stranger")
	allowed := []string{ia.NodeID, ib.NodeID}
	a := start(t, ia, allowed)
	b := start(t, ib, allowed, a.tr.Addr().String())
	testutil.Eventually(t, 10*time.Second, "a and b joined", func() bool { return len(a.m.Members()) == 1 && len(b.m.Members()) == 1 })
	s := start(t, is, nil, a.tr.Addr().String()) // signed by the CA, but not allowed
	testutil.Eventually(t, 20*time.Second, "the stranger refused", func() bool { return a.tr.Rejects() >= 3 })
	if len(a.m.Members()) != 1 || len(b.m.Members()) != 1 || len(s.m.Members()) != 0 {
		t.Fatalf("members: a %v, b %v, stranger %v", a.m.Members(), b.m.Members(), s.m.Members())
	}
}

func TestFailureDetectedAndRejoin(t *testing.T) {
	ca := newCA(t)
	a := start(t, identity(t, ca, "a"), nil)
	seed := a.tr.Addr().String()
	b := start(t, identity(t, ca, "b"), nil, seed)
	ic := identity(t, ca, "c")
	c := start(t, ic, nil, seed)
	testutil.Eventually(t, 10*time.Second, "three members", func() bool { return len(a.m.Members()) == 2 && len(b.m.Members()) == 2 })
	// A hard failure: c stops without leaving.
	c.m.once.Do(func() { close(c.m.done); c.m.wg.Wait(); _ = c.m.ml.Shutdown() })
	begin := time.Now()
	testutil.Eventually(t, 10*time.Second, "c's failure seen by a and b", func() bool {
		return len(a.m.Members()) == 1 && len(b.m.Members()) == 1
	})
	t.Logf("hard failure seen by all after %v", time.Since(begin))
	if a.m.Stats().Departures != 1 {
		t.Fatalf("a counted no departure: %+v", a.m.Stats())
	}
	// c comes back under the same identity and is a member again.
	c2 := start(t, ic, nil, seed)
	testutil.Eventually(t, 20*time.Second, "c rejoined", func() bool {
		return len(a.m.Members()) == 2 && len(b.m.Members()) == 2 && len(c2.m.Members()) == 2
	})
}

func TestChoose(t *testing.T) {
	ms := []Member{{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}, {"e", "5"}}
	addrs, chosen := Choose(ms, nil, 3)
	if len(addrs) != 3 || len(chosen) != 3 {
		t.Fatalf("chose %v %v", addrs, chosen)
	}
	// Chosen members that remain are kept; a gone one is replaced.
	var gone string
	for id := range chosen {
		gone = id
		break
	}
	var left []Member
	for _, m := range ms {
		if m.NodeID != gone {
			left = append(left, m)
		}
	}
	_, next := Choose(left, chosen, 3)
	for id := range chosen {
		if id != gone && !next[id] {
			t.Fatalf("kept member %s dropped: %v -> %v", id, chosen, next)
		}
	}
	if len(next) != 3 || next[gone] {
		t.Fatalf("after %s left: %v", gone, next)
	}
	// Fewer members than wanted: all of them.
	if addrs, _ := Choose(ms[:2], nil, 3); len(addrs) != 2 {
		t.Fatalf("%v", addrs)
	}
}

// A cluster that split into halves, each choosing its links within itself
// while apart, links across again as the other half's members rejoin one
// by one; a single join into a settled cluster moves at most one link of
// a node.
func TestLinks_CrossAgainAfterASplit(t *testing.T) {
	const n, k = 32, 6
	var all []Member
	for i := range n {
		all = append(all, Member{NodeID: fmt.Sprintf("n%02d", i), LinkAddr: fmt.Sprintf("a%02d", i)})
	}
	half := all[:n/2]
	links := make([]Links, n/2)
	for i := range links {
		links[i].Choose(all, k) // linked before the split
		links[i].Choose(half, k)
	}
	crossing := 0
	for i := range links {
		for j := n / 2; j < n; j++ {
			links[i].Choose(all[:j+1], k) // the other half rejoins, one by one
		}
		for _, m := range all[n/2:] {
			if links[i].Chosen(m.NodeID) {
				crossing++
				break
			}
		}
	}
	if crossing == 0 {
		t.Fatalf("after the heal no node of the first half links to the second: the halves never exchange ops")
	}
	t.Logf("%d of %d nodes link across after the heal", crossing, n/2)

	// Settled: one more member joins; every node keeps at least k-1 links.
	joined := append(all, Member{NodeID: "new", LinkAddr: "anew"})
	for i := range links {
		before := map[string]bool{}
		for _, m := range all {
			if links[i].Chosen(m.NodeID) {
				before[m.NodeID] = true
			}
		}
		links[i].Choose(joined, k)
		kept := 0
		for id := range before {
			if links[i].Chosen(id) {
				kept++
			}
		}
		if kept < k-1 {
			t.Fatalf("a single join moved %d links of node %d", k-kept, i)
		}
	}
}
