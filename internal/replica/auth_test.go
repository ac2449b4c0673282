package replica

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/opauth"
	"github.com/numax/numax/internal/testutil"
)

// testPKI is a cluster CA for tests (package transport, which makes the
// real ones, imports this package).
type testPKI struct {
	caKey  *ecdsa.PrivateKey
	caCert *x509.Certificate
	pool   *x509.CertPool
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return &testPKI{caKey: key, caCert: c, pool: pool}
}

// testNode is a node's certificate and key.
type testNode struct {
	id  string
	der []byte
	key *ecdsa.PrivateKey
}

func (p *testPKI) node(t testing.TB) testNode {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sn, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: sn, Subject: pkix.Name{CommonName: "node"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return testNode{id: testNodeID(c), der: der, key: key}
}

// testNodeID is transport.NodeIDFromCert.
func testNodeID(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:16])
}

func (p *testPKI) check(c *x509.Certificate) (string, error) {
	if _, err := c.Verify(x509.VerifyOptions{Roots: p.pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return "", err
	}
	return testNodeID(c), nil
}

// auth is n's Auth: its signer and a keyring holding its own certificate.
func (p *testPKI) auth(t testing.TB, n testNode) *Auth {
	t.Helper()
	s, err := opauth.NewSigner(n.key)
	if err != nil {
		t.Fatal(err)
	}
	k := opauth.NewKeyring(p.check, 64)
	if _, _, err := k.Add(n.der); err != nil {
		t.Fatal(err)
	}
	return &Auth{Signer: s, Keyring: k}
}

// signed makes a unit of n's ops 1..len(ops) (filling origin and seq) and
// the head n signs over it.
func (n testNode) signed(t testing.TB, ops ...*crdt.Op) ([]*crdt.Op, *opauth.Head) {
	t.Helper()
	var c opauth.Chainer
	chain := opauth.Genesis(n.id)
	for i, op := range ops {
		op.Origin, op.Seq = n.id, uint64(i+1)
		if op.HLC == 0 {
			op.HLC = uint64(time.Now().UnixMilli()) << 16
		}
		chain = c.Next(chain, op)
	}
	h := &opauth.Head{Origin: n.id, Seq: uint64(len(ops)), Chain: chain}
	s, _ := opauth.NewSigner(n.key)
	if err := s.Sign(h); err != nil {
		t.Fatal(err)
	}
	return ops, h
}

func violationKind(err error) string {
	var v *Violation
	if errors.As(err, &v) {
		return v.Kind
	}
	return ""
}

// Every way of speaking for another node, or of changing what it said, is
// refused with nothing applied; the genuine ops, relayed by any peer,
// apply.
func TestAuth_OpsProvedByTheirOrigin(t *testing.T) {
	pki := newTestPKI(t)
	self, honest, evilNode, stranger := pki.node(t), pki.node(t), pki.node(t), newTestPKI(t).node(t)
	inc := func() *crdt.Op { return &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1} }
	genuine, head := honest.signed(t, inc(), inc())

	tamper := func() ([]*crdt.Op, *opauth.Head) {
		ops, h := honest.signed(t, inc(), inc())
		ops[1].Delta = 1000
		return ops, h
	}
	forged := func() ([]*crdt.Op, *opauth.Head) {
		// The evil node's key signs a head of the honest node's origin.
		ops, _ := honest.signed(t, inc())
		var c opauth.Chainer
		h := &opauth.Head{Origin: honest.id, Seq: 1, Chain: c.Next(opauth.Genesis(honest.id), ops[0])}
		s, _ := opauth.NewSigner(evilNode.key)
		if err := s.Sign(h); err != nil {
			t.Fatal(err)
		}
		return ops, h
	}
	tests := []struct {
		name  string
		msg   func() *Message
		kind  string // the violation; "" for none
		apply uint64 // the honest origin's counter after
	}{
		{"genuine, relayed by another peer", func() *Message {
			return &Message{Kind: PushOps, Ops: genuine, Heads: []*opauth.Head{head}, Certs: [][]byte{honest.der}}
		}, "", 2},
		{"forged origin", func() *Message {
			ops, h := forged()
			return &Message{Kind: PushOps, Ops: ops, Heads: []*opauth.Head{h}, Certs: [][]byte{honest.der}}
		}, "bad_signature", 0},
		{"tampered op under a genuine head", func() *Message {
			ops, h := tamper()
			return &Message{Kind: PushOps, Ops: ops, Heads: []*opauth.Head{h}, Certs: [][]byte{honest.der}}
		}, "unproven_op", 0},
		{"origin certificate never sent", func() *Message {
			return &Message{Kind: PushOps, Ops: genuine, Heads: []*opauth.Head{head}}
		}, "unknown_origin", 0},
		{"certificate from another CA", func() *Message {
			return &Message{Kind: PushOps, Ops: genuine, Heads: []*opauth.Head{head}, Certs: [][]byte{stranger.der}}
		}, "bad_certificate", 0},
		{"no head at all", func() *Message {
			ops, _ := honest.signed(t, inc(), inc())
			return &Message{Kind: PushOps, Ops: ops, Certs: [][]byte{honest.der}}
		}, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var kinds []string
			r, _ := recorded(t, Config{NodeID: self.id, Auth: pki.auth(t, self),
				OnViolation: func(_, kind string) { kinds = append(kinds, kind) }}, evilNode.id)
			err := r.Handle(evilNode.id, tt.msg())
			if got := violationKind(err); got != tt.kind {
				t.Fatalf("Handle: %v (kind %q), want kind %q", err, got, tt.kind)
			}
			if tt.kind != "" && (len(kinds) != 1 || kinds[0] != tt.kind) {
				t.Fatalf("violations counted %v, want [%s]", kinds, tt.kind)
			}
			if got := gcounter(r, "c"); got != tt.apply || r.VV()[honest.id] != tt.apply {
				t.Fatalf("counter %d, vv %d; want %d", got, r.VV()[honest.id], tt.apply)
			}
		})
	}
}

// Ops wait for the head that proves them, bounded in all: a peer that
// never sends one costs at most the bound.
func TestAuth_UnprovenOpsBounded(t *testing.T) {
	pki := newTestPKI(t)
	self, evilNode := pki.node(t), pki.node(t)
	r, _ := recorded(t, Config{NodeID: self.id, Auth: pki.auth(t, self), MaxPending: 100}, evilNode.id)
	for batch := 0; batch < 10; batch++ {
		ops := make([]*crdt.Op, 100)
		for i := range ops {
			ops[i] = &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1, Origin: evilNode.id,
				Seq: uint64(batch*100 + i + 1), HLC: uint64(time.Now().UnixMilli()) << 16}
		}
		if err := r.Handle(evilNode.id, &Message{Kind: PushOps, Ops: ops}); err != nil {
			t.Fatal(err)
		}
	}
	r.mu.Lock()
	n := r.unprovenN
	r.mu.Unlock()
	if n != r.maxUnproven() || gcounter(r, "c") != 0 {
		t.Fatalf("%d ops waiting (bound %d), counter %d", n, r.maxUnproven(), gcounter(r, "c"))
	}
	// The link going down forgets them.
	r.PeerDown(evilNode.id)
	r.mu.Lock()
	n = r.unprovenN
	r.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d ops still waiting after the link went", n)
	}
}

// A snapshot's vector entries need their origins' heads at exactly those
// seqs: a claim beyond what the origin signed is refused.
func TestAuth_SnapshotBoundedBySignedHeads(t *testing.T) {
	pki := newTestPKI(t)
	self, honest, peer := pki.node(t), pki.node(t), pki.node(t)
	_, head := honest.signed(t, &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1},
		&crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1})
	state := func() map[crdt.ObjKey][]byte {
		g := crdt.New(crdt.TypeGCounter)
		g.Apply(&crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 2, Origin: honest.id, Seq: 2})
		return map[crdt.ObjKey][]byte{{Type: crdt.TypeGCounter, Key: "c"}: g.AppendBinary(nil)}
	}
	tests := []struct {
		name  string
		vv    uint64
		heads []*opauth.Head
		kind  string
	}{
		{"proved", 2, []*opauth.Head{head}, ""},
		{"claims beyond the head", 1_000_000, []*opauth.Head{head}, "unproven_snapshot"},
		{"no head", 2, nil, "unproven_snapshot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := recorded(t, Config{NodeID: self.id, Auth: pki.auth(t, self)}, peer.id)
			r.pull(peer.id)
			err := r.Handle(peer.id, &Message{Kind: Snapshot, VV: map[string]uint64{honest.id: tt.vv},
				Objects: state(), Heads: tt.heads, Certs: [][]byte{honest.der}})
			if got := violationKind(err); got != tt.kind {
				t.Fatalf("Handle: %v, want kind %q", err, tt.kind)
			}
			want := uint64(0)
			if tt.kind == "" {
				want = 2
			}
			if r.VV()[honest.id] != want || gcounter(r, "c") != want {
				t.Fatalf("vv %d, counter %d, want %d", r.VV()[honest.id], gcounter(r, "c"), want)
			}
		})
	}
}

// Signed clusters converge like unsigned ones, through relays, pulls and
// snapshots, and sign and verify far fewer heads than they move ops.
func TestAuth_ClusterConverges(t *testing.T) {
	c := newCluster(t, 0, Config{AntiEntropyInterval: 100 * time.Millisecond, OpLogLimit: 200})
	c.pki = newTestPKI(t)
	for range 4 {
		c.add()
	}
	c.net.SetFaults(0.1, 0.1, 3*time.Millisecond)
	for round := 0; round < 400; round++ {
		for _, r := range c.nodes {
			write(t, r, &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1})
		}
	}
	c.net.SetFaults(0, 0, 0)
	c.awaitConvergence("signed cluster")
	var signed, verified uint64
	for i, r := range c.nodes {
		if got := gcounter(r, "c"); got != 1600 {
			t.Fatalf("node %d counter %d, want 1600", i, got)
		}
		signed += r.Stats().HeadsSigned
		verified += r.Stats().HeadsVerified
	}
	if signed == 0 || verified == 0 {
		t.Fatalf("signed %d, verified %d heads", signed, verified)
	}
	// A node that restarts keeps its chain: its next ops still prove.
	c.stop(1)
	c.start(1)
	write(t, c.nodes[1], &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1})
	c.awaitConvergence("after a restart")
	testutil.Eventually(t, 10*time.Second, "the write after restart everywhere", func() bool {
		for _, r := range c.nodes {
			if gcounter(r, "c") != 1601 {
				return false
			}
		}
		return true
	})
	t.Logf("1601 ops on 4 nodes: %d heads signed, %d verified", signed, verified)
	_ = context.Background
}
