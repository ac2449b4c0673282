package transport

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/replica"
	"github.com/numax/numax/internal/store"
	"github.com/numax/numax/internal/testutil"
	"github.com/numax/numax/internal/wire"
	"github.com/numax/numax/internal/wire/wirepb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// logBuf collects log output for assertions.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

type node struct {
	t   *Transport
	r   *replica.Replica
	h   *downRecorder
	st  *store.Store
	log *logBuf
	id  string
}

// pki writes a CA and n node certificates into dir; it returns identities.
func pki(t *testing.T, n int) []*Identity {
	t.Helper()
	dir := t.TempDir()
	ca, err := NewCA("test-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.crt")
	os.WriteFile(caFile, ca.Cert, 0o600)
	var ids []*Identity
	for i := 0; i < n; i++ {
		p, nodeID, err := NewNodeCert(ca, "node", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		cf, kf := filepath.Join(dir, nodeID+".crt"), filepath.Join(dir, nodeID+".key")
		os.WriteFile(cf, p.Cert, 0o600)
		os.WriteFile(kf, p.Key, 0o600)
		id, err := LoadIdentity(cf, kf, caFile)
		if err != nil {
			t.Fatal(err)
		}
		if id.NodeID != nodeID {
			t.Fatalf("NodeID %s from file, %s at creation", id.NodeID, nodeID)
		}
		ids = append(ids, id)
	}
	return ids
}

// start runs a node listening on 127.0.0.1 with a free port.
func start(t *testing.T, id *Identity, mutate func(*Config)) *node {
	t.Helper()
	st, err := store.Open(store.DefaultConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	lb := &logBuf{}
	n := &node{st: st, log: lb}
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.TLS = id
	cfg.ReconnectInitial, cfg.ReconnectMax = 20*time.Millisecond, 200*time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if id != nil {
		cfg.NodeID = id.NodeID
	} else {
		cfg.NodeID = replica.NewNodeID()
	}
	if mutate != nil {
		mutate(&cfg)
	}
	n.id = cfg.NodeID
	if n.t, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	cfg.VV = func() map[string]uint64 { return nil }
	if n.r, err = replica.Open(replica.Config{Store: st, NodeID: cfg.NodeID, Transport: n.t, AntiEntropyInterval: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	n.h = &downRecorder{Replica: n.r}
	n.t.Start(n.h)
	t.Cleanup(func() {
		n.r.Close(context.Background())
		n.t.Close()
		n.st.Close()
	})
	return n
}

func (n *node) addr() string { return n.t.Addr().String() }

// downRecorder is the replica as the handler, recording PeerDown calls.
type downRecorder struct {
	*replica.Replica
	mu    sync.Mutex
	downs []string
}

func (d *downRecorder) PeerDown(peer string) {
	d.mu.Lock()
	d.downs = append(d.downs, peer)
	d.mu.Unlock()
	d.Replica.PeerDown(peer)
}

func (d *downRecorder) down() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.downs)
}

// TestPeerDownWhenLinkLost: the handler hears PeerDown once when a link
// goes, and not while it stays.
func TestPeerDownWhenLinkLost(t *testing.T) {
	a := start(t, nil, nil)
	b := start(t, nil, func(c *Config) { c.Peers = []string{a.addr()} })
	testutil.Eventually(t, 20*time.Second, "link", func() bool { return len(a.t.Peers()) == 1 && len(b.t.Peers()) == 1 })
	if d := a.h.down(); len(d) != 0 {
		t.Fatalf("PeerDown %v while the link is up", d)
	}
	b.t.Close()
	testutil.Eventually(t, 20*time.Second, "PeerDown on a", func() bool { return len(a.h.down()) > 0 })
	if d := a.h.down(); !slices.Equal(d, []string{b.id}) {
		t.Fatalf("PeerDown calls %v, want [%s]", d, b.id)
	}
}

func inc(t *testing.T, n *node, key string) {
	t.Helper()
	if _, err := n.r.Write(context.Background(), &crdt.Op{Kind: crdt.GCounterInc, Key: key, Delta: 1}, nil); err != nil {
		t.Fatal(err)
	}
}

func value(n *node, key string) uint64 {
	var v uint64
	n.r.Read(crdt.ObjKey{Type: crdt.TypeGCounter, Key: key}, func(o crdt.Object) {
		if o != nil {
			v = o.(*crdt.GCounter).Value()
		}
	})
	return v
}

func TestMTLS_ThreeNodesConverge(t *testing.T) {
	ids := pki(t, 3)
	a := start(t, ids[0], nil)
	b := start(t, ids[1], func(c *Config) { c.Peers = []string{a.addr()} })
	c := start(t, ids[2], func(c *Config) { c.Peers = []string{a.addr(), b.addr()} })
	for _, n := range []*node{a, b, c} {
		inc(t, n, "votes")
	}
	testutil.Eventually(t, 20*time.Second, "convergence", func() bool {
		return value(a, "votes") == 3 && value(b, "votes") == 3 && value(c, "votes") == 3
	})
	testutil.Eventually(t, 20*time.Second, "full mesh", func() bool { return len(a.t.Peers()) == 2 && len(b.t.Peers()) == 2 })
	for _, p := range c.t.PeerInfo() {
		if p.NodeID != a.id && p.NodeID != b.id {
			t.Fatalf("unexpected peer %v", p)
		}
	}
}

func TestSimultaneousDialsKeepOneLink(t *testing.T) {
	// Each dials the other at once: both must end with exactly one link.
	la, _ := net.Listen("tcp", "127.0.0.1:0")
	lb, _ := net.Listen("tcp", "127.0.0.1:0")
	addrA, addrB := la.Addr().String(), lb.Addr().String()
	la.Close()
	lb.Close()
	a := start(t, nil, func(c *Config) { c.Listen = addrA; c.Peers = []string{addrB} })
	b := start(t, nil, func(c *Config) { c.Listen = addrB; c.Peers = []string{addrA} })
	testutil.Eventually(t, 20*time.Second, "link", func() bool { return len(a.t.Peers()) == 1 && len(b.t.Peers()) == 1 })
	time.Sleep(300 * time.Millisecond) // several redial periods: still one link
	if pa, pb := a.t.PeerInfo(), b.t.PeerInfo(); len(pa) != 1 || len(pb) != 1 || pa[0].NodeID != b.id || pb[0].NodeID != a.id {
		t.Fatalf("links: %v / %v", pa, pb)
	}
	if da, db := a.h.down(), b.h.down(); len(da) != 0 || len(db) != 0 {
		t.Fatalf("PeerDown %v / %v: closing the duplicate link is not losing the peer", da, db)
	}
	inc(t, a, "x")
	testutil.Eventually(t, 20*time.Second, "replication over the single link", func() bool { return value(b, "x") == 1 })
}

func TestForeignCARefused(t *testing.T) {
	ours, theirs := pki(t, 1), pki(t, 1)
	a := start(t, ours[0], nil)
	x := start(t, theirs[0], func(c *Config) { c.Peers = []string{a.addr()} })
	inc(t, x, "evil")
	testutil.Eventually(t, 20*time.Second, "refusal", func() bool { return x.t.HealthOf()[a.addr()] == Refused })
	if len(a.t.Peers()) != 0 || value(a, "evil") != 0 {
		t.Fatal("a node from another CA got in")
	}
	if !strings.Contains(a.log.String(), "inbound TLS handshake failed") {
		t.Fatalf("refusal not logged:\n%s", a.log.String())
	}
}

func TestAllowlist(t *testing.T) {
	ids := pki(t, 3)
	a := start(t, ids[0], func(c *Config) { c.AllowedPeers = []string{ids[1].NodeID} })
	b := start(t, ids[1], func(c *Config) { c.Peers = []string{a.addr()} })
	x := start(t, ids[2], func(c *Config) { c.Peers = []string{a.addr()} })
	inc(t, x, "c")
	inc(t, b, "c")
	testutil.Eventually(t, 20*time.Second, "allowed peer linked, other refused", func() bool {
		return len(a.t.Peers()) == 1 && x.t.HealthOf()[a.addr()] == Refused
	})
	testutil.Eventually(t, 20*time.Second, "allowed op applied", func() bool { return value(a, "c") == 1 })
	if !strings.Contains(a.log.String(), "is not in allowed_peers") {
		t.Fatalf("refusal not logged:\n%s", a.log.String())
	}
}

// rawHello dials n with cert (nil = plain TCP) and sends a Hello claiming
// claimed with version v; it returns the first frame n answers with.
func rawHello(t *testing.T, n *node, cert *Identity, claimed string, v uint32) *wirepb.Frame {
	t.Helper()
	nc, err := net.Dial("tcp", n.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if cert != nil {
		tc := tls.Client(nc, cert.ClientConfig())
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		nc = tc
	}
	b, _ := wire.EncodeFrame(&wirepb.Frame{Msg: &wirepb.Frame_Hello{Hello: &wirepb.Hello{NodeId: claimed, ProtocolVersion: v}}}, wire.TagBinary)
	nc.Write(b)
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	tag, payload, err := wire.ReadFrame(bufio.NewReader(nc), 1<<20)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	f, err := wire.Unmarshal(tag, payload)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestHelloRefusals(t *testing.T) {
	ids := pki(t, 3)
	a := start(t, ids[0], nil)
	t.Run("claims_another_node_id", func(t *testing.T) {
		f := rawHello(t, a, ids[1], ids[2].NodeID, wire.ProtocolVersion)
		e, ok := f.Msg.(*wirepb.Frame_Error)
		if !ok || !strings.Contains(describe(e.Error), "certificate is NodeId "+ids[1].NodeID) {
			t.Fatalf("answer %v", f)
		}
	})
	t.Run("protocol_mismatch", func(t *testing.T) {
		f := rawHello(t, a, ids[1], ids[1].NodeID, 99)
		e, ok := f.Msg.(*wirepb.Frame_Error)
		pm := e.Error.GetProtocolMismatch()
		if !ok || pm == nil || pm.Expected != wire.ProtocolVersion || pm.Got != 99 {
			t.Fatalf("answer %v", f)
		}
		testutil.Eventually(t, 20*time.Second, "mismatch logged", func() bool {
			return strings.Contains(a.log.String(), fmt.Sprintf("ProtocolMismatch: expected %d, got 99", wire.ProtocolVersion))
		})
	})
}

// TestGarbageClosesOnlyThatLink: a frame with a huge length, an unknown tag
// or garbage bytes closes that connection; the node keeps serving its peer.
func TestGarbageClosesOnlyThatLink(t *testing.T) {
	a := start(t, nil, nil)
	b := start(t, nil, func(c *Config) { c.Peers = []string{a.addr()} })
	testutil.Eventually(t, 20*time.Second, "link", func() bool { return len(a.t.Peers()) == 1 })
	for _, junk := range [][]byte{
		{0xff, 0xff, 0xff, 0xff, 0x02},         // 4 GiB length
		wire.AppendFrame(nil, 0x09, []byte{1}), // unknown tag
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		append([]byte{0, 0, 0, 5, 2}, 0xff, 0xff, 0xff, 0xff), // undecodable
	} {
		nc, err := net.Dial("tcp", a.addr())
		if err != nil {
			t.Fatal(err)
		}
		nc.Write(junk)
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = nc.Read(make([]byte, 1))
		if err == nil {
			t.Fatalf("junk %q: connection stayed open", junk)
		}
		nc.Close()
	}
	inc(t, b, "after-junk")
	testutil.Eventually(t, 20*time.Second, "the good link still works", func() bool { return value(a, "after-junk") == 1 })
}

func TestNew_Refusals(t *testing.T) {
	busy, _ := net.Listen("tcp", "127.0.0.1:0")
	defer busy.Close()
	for _, cfg := range []Config{
		{NodeID: "nope"},
		{NodeID: replica.NewNodeID(), Listen: busy.Addr().String()},
		{NodeID: replica.NewNodeID(), AllowedPeers: []string{"x"}},
	} {
		if tr, err := New(cfg); err == nil {
			tr.Close()
			t.Errorf("%+v accepted", cfg)
		}
	}
}

// With max_peers 1, a node dialing two peers keeps one link and waits (with
// backoff, no busy loop) for a slot for the other; when the first goes away
// the second gets the slot.
func TestMaxPeersSlots(t *testing.T) {
	b := start(t, nil, nil)
	c := start(t, nil, nil)
	a := start(t, nil, func(cfg *Config) { cfg.MaxPeers = 1; cfg.Peers = []string{b.addr(), c.addr()} })
	testutil.Eventually(t, 20*time.Second, "one link", func() bool { return len(a.t.Peers()) == 1 })
	time.Sleep(200 * time.Millisecond)
	if n := len(a.t.Peers()); n != 1 {
		t.Fatalf("%d links with max_peers 1", n)
	}
	first := a.t.Peers()[0]
	for _, n := range []*node{b, c} {
		if n.id == first {
			n.t.Close()
		}
	}
	testutil.Eventually(t, 20*time.Second, "the other peer takes the freed slot", func() bool {
		p := a.t.Peers()
		return len(p) == 1 && p[0] != first
	})
}
