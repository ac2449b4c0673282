package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/numax/numax/internal/testutil"
)

// damageWAL flips bytes in the middle of the datastore's largest
// write-ahead log: the records after them are lost, though they were
// acknowledged (sync = always) and sent to peers.
func damageWAL(t *testing.T, dir string) string {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(dir, "pebble", "*.log"))
	sort.Slice(logs, func(i, j int) bool { return size(logs[i]) > size(logs[j]) })
	if len(logs) == 0 || size(logs[0]) < 64<<10 {
		t.Fatalf("no write-ahead log with data to damage in %s: %v", dir, logs)
	}
	b, err := os.ReadFile(logs[0])
	if err != nil {
		t.Fatal(err)
	}
	for i := len(b) / 2; i < len(b)/2+64; i++ {
		b[i] ^= 0x5a
	}
	if err := os.WriteFile(logs[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Base(logs[0])
}

func size(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// A node whose write-ahead log lost acknowledged ops (damaged in the
// middle) does not reuse their sequence numbers: nx check names the damage;
// at its next start the node takes its own ops back from its peer (they
// carry its own signatures) before its guest writes, and the cluster
// settles on the exact total. Alone, it refuses to write and says how to
// recover; --accept-data-loss needs a new certificate and then runs under
// the new NodeId.
func TestWALLoss_OwnOpsTakenBackFromPeers(t *testing.T) {
	writer := testutil.GoGuest(t, "testdata/guests/writer")
	pki := t.TempDir()
	testutil.RunNX(t, time.Minute, nil, "cert", "ca", "--dir", pki)
	for _, n := range []string{"a", "b", "a2"} {
		testutil.RunNX(t, time.Minute, nil, "cert", "node", n, "--ca-dir", pki, "--dir", pki)
	}
	tlsArgs := func(n string) []string {
		return []string{"--tls-cert", filepath.Join(pki, n+".crt"), "--tls-key", filepath.Join(pki, n+".key"), "--tls-ca", filepath.Join(pki, "ca.crt")}
	}
	la, lb := testutil.FreePort(t), testutil.FreePort(t)
	dirA := t.TempDir()
	pb := testutil.StartNX(t, []string{"NX_OPS=0"}, append(nodeRun(writer, t.TempDir(), lb, "--settle-for", "10m", "--print-gcounter", "visits",
		"--log-level", "info"), tlsArgs("b")...)...)
	waitLog(t, pb, "settling")
	r := testutil.RunNX(t, 2*time.Minute, []string{"NX_OPS=3000"}, append(nodeRun(writer, dirA, la, "--peer", lb, "--sync", "always",
		"--wait-before-run", "20s", "--settle-for", "3s", "--print-gcounter", "visits", "--log-level", "warn"), tlsArgs("a")...)...)
	if r.Code != 0 || r.Stdout != "visits = 3000\n" {
		t.Fatalf("a: exit %d %q\n%s", r.Code, r.Stdout, r.Stderr)
	}

	// A copy for the --accept-data-loss case below.
	dirCopy := filepath.Join(t.TempDir(), "copy")
	if out, err := exec.Command("cp", "-a", dirA, dirCopy).CombinedOutput(); err != nil {
		t.Fatalf("copy the datastore: %v %s", err, out)
	}
	if c := testutil.RunNX(t, time.Minute, nil, "check", "--datastore-path", dirCopy); c.Code != 0 || !strings.Contains(c.Stdout, "every table and log checks out") {
		t.Fatalf("nx check on a healthy datastore: exit %d\n%s%s", c.Code, c.Stdout, c.Stderr)
	}
	wal := damageWAL(t, dirA)
	c := testutil.RunNX(t, time.Minute, nil, "check", "--datastore-path", dirA)
	if c.Code != 1 || !strings.Contains(c.Stdout, wal+": write-ahead log damaged") || !strings.Contains(c.Stdout, "acknowledged and are lost") {
		t.Fatalf("nx check on a damaged log: exit %d\n%s%s", c.Code, c.Stdout, c.Stderr)
	}

	// Alone: the node starts, says what was lost and how to recover, and a
	// write fails rather than reuse a number b holds.
	r = testutil.RunNX(t, time.Minute, []string{"NX_OPS=1"}, append(nodeRun(writer, dirA, testutil.FreePort(t), "--settle-for", "0s",
		"--log-level", "info"), tlsArgs("a")...)...)
	if r.Code == 0 || !strings.Contains(r.Stderr, "lost acknowledged writes") || !strings.Contains(r.Stderr, "--accept-data-loss") {
		t.Fatalf("alone after the loss: exit %d\n%s", r.Code, tail(r.Stderr))
	}
	// With its peer: it takes its ops back, then writes 50 more.
	r = testutil.RunNX(t, 2*time.Minute, []string{"NX_OPS=50"}, append(nodeRun(writer, dirA, la, "--peer", lb, "--sync", "always",
		"--wait-before-run", "30s", "--settle-for", "3s", "--print-gcounter", "visits", "--log-level", "info"), tlsArgs("a")...)...)
	if r.Code != 0 || r.Stdout != "visits = 3050\n" || !strings.Contains(r.Stderr, "own ops recovered from peers") {
		t.Fatalf("a with its peer after the loss: exit %d %q\n%s", r.Code, r.Stdout, tail(r.Stderr))
	}
	_ = pb.Cmd.Process.Signal(syscall.SIGTERM)
	if out := exitOK(t, pb, "b"); out != "visits = 3050\n" {
		t.Fatalf("b printed %q: sequence numbers were reused", out)
	}

	// --accept-data-loss refuses the old certificate, and runs with a new one.
	dirA = dirCopy
	wal = damageWAL(t, dirA)
	r = testutil.RunNX(t, time.Minute, []string{"NX_OPS=1"}, append(nodeRun(writer, dirA, testutil.FreePort(t), "--accept-data-loss",
		"--log-level", "warn"), tlsArgs("a")...)...)
	if r.Code == 0 || !strings.Contains(r.Stderr, "make a new node certificate") {
		t.Fatalf("--accept-data-loss with the old certificate (%s damaged): exit %d\n%s", wal, r.Code, tail(r.Stderr))
	}
	r = testutil.RunNX(t, time.Minute, []string{"NX_OPS=1"}, append(nodeRun(writer, dirA, testutil.FreePort(t), "--accept-data-loss",
		"--settle-for", "0s", "--print-gcounter", "visits", "--log-level", "warn"), tlsArgs("a2")...)...)
	if r.Code != 0 || !strings.Contains(r.Stderr, "continues under a new NodeId") {
		t.Fatalf("--accept-data-loss with a new certificate: exit %d %q\n%s", r.Code, r.Stdout, tail(r.Stderr))
	}
}
