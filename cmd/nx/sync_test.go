package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/numax/numax/internal/testutil"
	"github.com/numax/numax/internal/transport"
	"github.com/numax/numax/internal/wire"
	"github.com/numax/numax/internal/wire/wirepb"
)

// Acceptance scenarios 7-16 of acceptance.md that need the network, run
// against real nx processes on 127.0.0.1.

func nodeRun(wasm, dir, listen string, extra ...string) []string {
	return append([]string{"run", wasm, "--datastore-path", dir, "--listen", listen}, extra...)
}

func waitLog(t *testing.T, p *testutil.Proc, pattern string) {
	t.Helper()
	testutil.Eventually(t, time.Minute, "log "+pattern, func() bool { return strings.Contains(p.Stderr(), pattern) })
}

func exitOK(t *testing.T, p *testutil.Proc, what string) string {
	t.Helper()
	if code := p.Wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("%s exited %d\nstderr: %s", what, code, p.Stderr())
	}
	return p.Stdout()
}

// Scenario 7: two nodes dial each other at once: one link, listed once.
func TestSync_SimultaneousDialsOneLink(t *testing.T) {
	wasm := testutil.GoGuest(t, "testdata/guests/peers")
	a, b := testutil.FreePort(t), testutil.FreePort(t)
	flags := []string{"--tls-insecure", "--wait-before-run", "20s", "--settle-for", "1s", "--log-level", "debug"}
	pa := testutil.StartNX(t, nil, nodeRun(wasm, t.TempDir(), a, append([]string{"--peer", b}, flags...)...)...)
	pb := testutil.StartNX(t, nil, nodeRun(wasm, t.TempDir(), b, append([]string{"--peer", a}, flags...)...)...)
	outA, outB := exitOK(t, pa, "a"), exitOK(t, pb, "b")
	idOf := func(out string) string { return strings.Fields(strings.SplitN(out, "\n", 2)[0])[1] }
	peers := func(out string) []string { return regexp.MustCompile(`(?m)^peer (\S+)`).FindAllString(out, -1) }
	if la, lb := peers(outA), peers(outB); len(la) != 1 || len(lb) != 1 || la[0] != "peer "+idOf(outB) || lb[0] != "peer "+idOf(outA) {
		t.Fatalf("net_peers: a=%q b=%q\nA: %s\nB: %s", outA, outB, pa.Stderr(), pb.Stderr())
	}
}

// Scenario 8: in a chain A-B-C (A and C not configured to each other), an op
// made on A reaches C by relay well before one anti-entropy interval (30 s).
func TestSync_ChainRelay(t *testing.T) {
	wasm := testutil.GoGuest(t, "examples/distributed_counter")
	a, b, c := testutil.FreePort(t), testutil.FreePort(t), testutil.FreePort(t)
	common := []string{"--tls-insecure", "--print-gcounter", "visits", "--log-level", "info"}
	pb := testutil.StartNX(t, nil, nodeRun(wasm, t.TempDir(), b, append([]string{"--settle-for", "12s"}, common...)...)...)
	pc := testutil.StartNX(t, nil, nodeRun(wasm, t.TempDir(), c, append([]string{"--peer", b, "--wait-before-run", "10s", "--settle-for", "8s"}, common...)...)...)
	waitLog(t, pc, "settling") // C is linked to B and has run: from now on A's op can only come by relay
	start := time.Now()
	pa := testutil.StartNX(t, []string{"NX_VISITS=5"}, nodeRun(wasm, t.TempDir(), a, append([]string{"--peer", b, "--wait-before-run", "10s", "--settle-for", "3s"}, common...)...)...)
	if out := exitOK(t, pc, "c"); out != "visits = 7\n" {
		t.Fatalf("C printed %q, want visits = 7", out)
	}
	if el := time.Since(start); el > 15*time.Second {
		t.Fatalf("relay took %s", el)
	}
	exitOK(t, pa, "a")
	exitOK(t, pb, "b")
}

// Scenario 9a: SIGTERM then restart keeps the state.
func TestSync_SigtermRestart(t *testing.T) {
	wasm := testutil.GoGuest(t, "testdata/guests/writer")
	dir, addr := t.TempDir(), testutil.FreePort(t)
	p := testutil.StartNX(t, []string{"NX_OPS=25"}, nodeRun(wasm, dir, addr, "--tls-insecure", "--log-level", "info")...)
	waitLog(t, p, "serving until SIGINT or SIGTERM")
	p.Cmd.Process.Signal(syscall.SIGTERM)
	exitOK(t, p, "after SIGTERM")
	r := testutil.RunNX(t, time.Minute, []string{"NX_OPS=0"}, nodeRun(wasm, dir, addr, "--tls-insecure", "--settle-for", "0s", "--print-gcounter", "visits")...)
	if r.Code != 0 || r.Stdout != "visits = 25\n" {
		t.Fatalf("after restart: exit %d %q\n%s", r.Code, r.Stdout, r.Stderr)
	}
}

// Scenario 9b: SIGKILL during a stream of writes, then restart: every write
// the guest saw succeed is present locally and reaches the peer; nothing is
// counted twice.
func TestSync_SigkillUnderLoad(t *testing.T) {
	wasm := testutil.GoGuest(t, "testdata/guests/writer")
	dirA, a, b := t.TempDir(), testutil.FreePort(t), testutil.FreePort(t)
	pb := testutil.StartNX(t, nil, nodeRun(wasm, t.TempDir(), b, "--tls-insecure", "--sync", "always", "--print-gcounter", "visits", "--log-level", "info")...)
	waitLog(t, pb, "serving until")
	pa := testutil.StartNX(t, []string{"NX_OPS=1000000", "NX_VERBOSE=1"}, nodeRun(wasm, dirA, a, "--peer", b, "--tls-insecure", "--sync", "always", "--wait-before-run", "10s")...)
	testutil.Eventually(t, time.Minute, "writes under way", func() bool { return strings.Count(pa.Stdout(), "ok ") > 300 })
	pa.Cmd.Process.Signal(syscall.SIGKILL)
	pa.Wait(t, time.Minute)
	acked := 0
	sc := bufio.NewScanner(strings.NewReader(pa.Stdout()))
	for sc.Scan() {
		if n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "ok ")); err == nil {
			acked = n
		}
	}
	r := testutil.RunNX(t, time.Minute, []string{"NX_OPS=0"}, nodeRun(wasm, dirA, a, "--peer", b, "--tls-insecure", "--sync", "always",
		"--wait-before-run", "10s", "--settle-for", "3s", "--print-gcounter", "visits")...)
	m := regexp.MustCompile(`^visits = (\d+)\n$`).FindStringSubmatch(r.Stdout)
	if r.Code != 0 || m == nil {
		t.Fatalf("restart: exit %d %q\n%s", r.Code, r.Stdout, r.Stderr)
	}
	kept, _ := strconv.Atoi(m[1])
	if kept < acked {
		t.Fatalf("sync=always lost acknowledged writes: acked %d, kept %d", acked, kept)
	}
	pb.Cmd.Process.Signal(syscall.SIGTERM)
	if out := exitOK(t, pb, "peer"); out != "visits = "+m[1]+"\n" {
		t.Fatalf("peer printed %q, origin kept %d (acked %d)", out, kept, acked)
	}
	t.Logf("acked %d, kept %d, peer equal", acked, kept)
}

// Scenario 10: B is down while A writes 1000 ops; when B comes back it
// converges to exactly A's values.
func TestSync_OfflineThenReturn(t *testing.T) {
	wasm := testutil.GoGuest(t, "testdata/guests/writer")
	a, b := testutil.FreePort(t), testutil.FreePort(t)
	pa := testutil.StartNX(t, []string{"NX_OPS=1000"}, nodeRun(wasm, t.TempDir(), a, "--tls-insecure", "--settle-for", "10s", "--print-gcounter", "visits", "--log-level", "info")...)
	waitLog(t, pa, "settling")
	r := testutil.RunNX(t, time.Minute, []string{"NX_OPS=0"}, nodeRun(wasm, t.TempDir(), b, "--peer", a, "--tls-insecure",
		"--wait-before-run", "10s", "--settle-for", "2s", "--print-gcounter", "visits")...)
	if r.Code != 0 || r.Stdout != "visits = 1000\n" {
		t.Fatalf("B: exit %d %q\n%s", r.Code, r.Stdout, r.Stderr)
	}
	exitOK(t, pa, "a")
}

// Scenario 15: a frame with a huge length, an unknown tag or garbage bytes
// closes only that connection; the node keeps serving its other peers.
func TestSync_GarbageFrames(t *testing.T) {
	wasm := testutil.GoGuest(t, "examples/distributed_counter")
	a, b := testutil.FreePort(t), testutil.FreePort(t)
	pa := testutil.StartNX(t, nil, nodeRun(wasm, t.TempDir(), a, "--tls-insecure", "--settle-for", "8s", "--print-gcounter", "visits", "--log-level", "info")...)
	waitLog(t, pa, "settling")
	for _, junk := range [][]byte{
		{0xff, 0xff, 0xff, 0xf0, 0x02},
		wire.AppendFrame(nil, 0x7e, []byte("?")),
		[]byte("\x16\x03\x01 definitely not numax"),
	} {
		nc, err := net.Dial("tcp", a)
		if err != nil {
			t.Fatal(err)
		}
		nc.Write(junk)
		nc.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := nc.Read(make([]byte, 64)); err == nil {
			t.Fatalf("junk %q: connection stayed open", junk)
		}
		nc.Close()
	}
	r := testutil.RunNX(t, time.Minute, []string{"NX_VISITS=2"}, nodeRun(wasm, t.TempDir(), b, "--peer", a, "--tls-insecure",
		"--wait-before-run", "10s", "--settle-for", "2s", "--print-gcounter", "visits")...)
	if r.Code != 0 || r.Stdout != "visits = 3\n" {
		t.Fatalf("good peer after junk: exit %d %q\n%s", r.Code, r.Stdout, r.Stderr)
	}
	if out := exitOK(t, pa, "a"); out != "visits = 3\n" {
		t.Fatalf("A printed %q", out)
	}
}

// hello sends a Hello on nc and returns the first frame the node answers.
func hello(t *testing.T, nc net.Conn, claimed string, version uint32) *wirepb.Frame {
	t.Helper()
	b, _ := wire.EncodeFrame(&wirepb.Frame{Msg: &wirepb.Frame_Hello{Hello: &wirepb.Hello{NodeId: claimed, ProtocolVersion: version}}}, wire.TagBinary)
	nc.Write(b)
	nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	tag, payload, err := wire.ReadFrame(bufio.NewReader(nc), 1<<20)
	if err != nil {
		t.Fatalf("no answer to Hello: %v", err)
	}
	f, err := wire.Unmarshal(tag, payload)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Scenario 16: a peer speaking another protocol version gets
// ProtocolMismatch, and the node logs it.
func TestSync_ProtocolMismatch(t *testing.T) {
	wasm := testutil.GoGuest(t, "examples/distributed_counter")
	a := testutil.FreePort(t)
	pa := testutil.StartNX(t, nil, nodeRun(wasm, t.TempDir(), a, "--tls-insecure", "--log-level", "info")...)
	waitLog(t, pa, "serving until")
	nc, err := net.Dial("tcp", a)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	f := hello(t, nc, strings.Repeat("c", 32), 99)
	pm := f.GetError().GetProtocolMismatch()
	if pm == nil || pm.Expected != wire.ProtocolVersion || pm.Got != 99 {
		t.Fatalf("answer %v, want ProtocolMismatch{expected %d, got 99}", f, wire.ProtocolVersion)
	}
	waitLog(t, pa, fmt.Sprintf("ProtocolMismatch: expected %d, got 99", wire.ProtocolVersion))
	pa.Cmd.Process.Signal(syscall.SIGTERM)
	exitOK(t, pa, "a")
}

// Scenario 14: a node with a certificate from another CA cannot connect, one
// not on --allowed-peers is refused and logged, one claiming another NodeId
// is refused; none of their ops apply.
func TestSync_HostilePeers(t *testing.T) {
	wasm := testutil.GoGuest(t, "examples/vote_tally_tls")
	dir := t.TempDir()
	certs := func(pki string, names ...string) map[string]string {
		testutil.RunNX(t, time.Minute, nil, "cert", "ca", "--dir", pki)
		ids := map[string]string{}
		for _, n := range names {
			ids[n] = strings.TrimSpace(testutil.RunNX(t, time.Minute, nil, "cert", "node", n, "--ca-dir", pki, "--dir", pki).Stdout)
		}
		return ids
	}
	ours, theirs := filepath.Join(dir, "ours"), filepath.Join(dir, "theirs")
	ids := certs(ours, "a", "b", "c")
	certs(theirs, "x")
	tlsArgs := func(pki, n string) []string {
		return []string{"--tls-cert", filepath.Join(pki, n+".crt"), "--tls-key", filepath.Join(pki, n+".key"), "--tls-ca", filepath.Join(pki, "ca.crt")}
	}
	a := testutil.FreePort(t)
	pa := testutil.StartNX(t, nil, nodeRun(wasm, t.TempDir(), a, append(tlsArgs(ours, "a"), "--allowed-peers", ids["b"],
		"--print-gcounter", "votes:evil", "--print-gcounter", "votes:good", "--log-level", "info")...)...)
	waitLog(t, pa, "serving until")

	// Another CA: refused at the TLS handshake.
	rx := testutil.RunNX(t, time.Minute, []string{"NX_VOTE=evil"}, nodeRun(wasm, t.TempDir(), testutil.FreePort(t),
		append(tlsArgs(theirs, "x"), "--peer", a, "--settle-for", "1s")...)...)
	if rx.Code != 0 || !strings.Contains(rx.Stderr, "peer refused for good") {
		t.Fatalf("foreign-CA node: exit %d\n%s", rx.Code, rx.Stderr)
	}
	waitLog(t, pa, "inbound TLS handshake failed")
	// Same CA, not on the allowlist: refused in the TLS handshake itself,
	// before any frame (wire.md), for good (no redial loop), logged.
	rc := testutil.RunNX(t, time.Minute, []string{"NX_VOTE=evil"}, nodeRun(wasm, t.TempDir(), testutil.FreePort(t),
		append(tlsArgs(ours, "c"), "--peer", a, "--settle-for", "1s")...)...)
	if rc.Code != 0 || !strings.Contains(rc.Stderr, "peer refused for good") || !strings.Contains(rc.Stderr, "tls: bad certificate") {
		t.Fatalf("unlisted node: exit %d\n%s", rc.Code, rc.Stderr)
	}
	waitLog(t, pa, "is not in allowed_peers")
	// A valid certificate claiming another NodeId in Hello.
	id, err := transport.LoadIdentity(filepath.Join(ours, "b.crt"), filepath.Join(ours, "b.key"), filepath.Join(ours, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := tls.Dial("tcp", a, &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{id.Cert}, InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if f := hello(t, raw, ids["c"], wire.ProtocolVersion); f.GetError().GetNotAuthorized() == nil {
		t.Fatalf("claimed NodeId: answer %v", f)
	}
	waitLog(t, pa, "claims NodeId "+ids["c"]+" but its certificate is NodeId "+ids["b"])
	// The allowed peer still gets in.
	rb := testutil.RunNX(t, time.Minute, []string{"NX_VOTE=good"}, nodeRun(wasm, t.TempDir(), testutil.FreePort(t),
		append(tlsArgs(ours, "b"), "--peer", a, "--wait-before-run", "10s", "--settle-for", "2s")...)...)
	if rb.Code != 0 {
		t.Fatalf("allowed node: exit %d\n%s", rb.Code, rb.Stderr)
	}
	pa.Cmd.Process.Signal(syscall.SIGTERM)
	if out := exitOK(t, pa, "a"); out != "votes:evil = 0\nvotes:good = 1\n" {
		t.Fatalf("A printed %q: a refused node's op applied, or the allowed one's did not", out)
	}
}

// A datastore written under one NodeId refuses another without
// --adopt-identity.
func TestSync_DatastoreIdentity(t *testing.T) {
	wasm := testutil.GoGuest(t, "examples/distributed_counter")
	pki, data := t.TempDir(), t.TempDir()
	testutil.RunNX(t, time.Minute, nil, "cert", "ca", "--dir", pki)
	idA := strings.TrimSpace(testutil.RunNX(t, time.Minute, nil, "cert", "node", "a", "--ca-dir", pki, "--dir", pki).Stdout)
	idB := strings.TrimSpace(testutil.RunNX(t, time.Minute, nil, "cert", "node", "b", "--ca-dir", pki, "--dir", pki).Stdout)
	as := func(n string, extra ...string) testutil.Result {
		args := nodeRun(wasm, data, testutil.FreePort(t), "--tls-cert", filepath.Join(pki, n+".crt"), "--tls-key",
			filepath.Join(pki, n+".key"), "--tls-ca", filepath.Join(pki, "ca.crt"), "--settle-for", "0s", "--print-gcounter", "visits")
		return testutil.RunNX(t, time.Minute, nil, append(args, extra...)...)
	}
	if r := as("a"); r.Code != 0 || r.Stdout != "visits = 1\n" {
		t.Fatalf("first run: %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	r := as("b")
	if r.Code != 1 || !strings.Contains(r.Stderr, "datastore belongs to node "+idA+" but this node is "+idB) {
		t.Fatalf("other identity: exit %d %s", r.Code, r.Stderr)
	}
	if r := as("b", "--adopt-identity"); r.Code != 0 || r.Stdout != "visits = 2\n" {
		t.Fatalf("adopted: %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
}

// Scenario 12: a partition (links cut) while both sides write, then heal:
// all nodes converge and the counter equals the total of all writes.
func TestSync_PartitionAndHeal(t *testing.T) {
	wasm := testutil.GoGuest(t, "testdata/guests/writer")
	a, b, c := testutil.FreePort(t), testutil.FreePort(t), testutil.FreePort(t)
	toA1, toA2 := testutil.NewProxy(t, a), testutil.NewProxy(t, a)
	toA1.Cut() // A is cut off from B and C from the start
	toA2.Cut()
	common := []string{"--tls-insecure", "--settle-for", "20s", "--print-gcounter", "visits", "--log-level", "info"}
	pa := testutil.StartNX(t, []string{"NX_OPS=100"}, nodeRun(wasm, t.TempDir(), a, common...)...)
	pb := testutil.StartNX(t, []string{"NX_OPS=200"}, nodeRun(wasm, t.TempDir(), b, append([]string{"--peer", toA1.Addr}, common...)...)...)
	pc := testutil.StartNX(t, []string{"NX_OPS=50"}, nodeRun(wasm, t.TempDir(), c, append([]string{"--peer", toA2.Addr, "--peer", b}, common...)...)...)
	for _, p := range []*testutil.Proc{pa, pb, pc} {
		waitLog(t, p, "settling") // every side has written while partitioned
	}
	toA1.Heal()
	toA2.Heal()
	for i, p := range []*testutil.Proc{pa, pb, pc} {
		if out := exitOK(t, p, "node"); out != "visits = 350\n" {
			t.Fatalf("node %d printed %q after heal, want visits = 350", i, out)
		}
	}
}
