package main

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/numax/numax/internal/testutil"
)

// Five nx processes with mode "gossip" over TLS, each knowing only one
// seed, learn each other through memberlist and converge; a node with a
// certificate from another CA, given the same seed, is never admitted.
func TestGossip_FiveProcessesThroughOneSeed(t *testing.T) {
	wasm := testutil.GoGuest(t, "testdata/guests/writer")
	dir := t.TempDir()
	pki, foreignPKI := filepath.Join(dir, "pki"), filepath.Join(dir, "foreign")
	testutil.RunNX(t, time.Minute, nil, "cert", "ca", "--dir", pki)
	testutil.RunNX(t, time.Minute, nil, "cert", "ca", "--dir", foreignPKI)
	tlsArgs := func(ca, name string) []string {
		testutil.RunNX(t, time.Minute, nil, "cert", "node", name, "--ca-dir", ca, "--dir", ca)
		return []string{"--tls-cert", filepath.Join(ca, name+".crt"), "--tls-key", filepath.Join(ca, name+".key"),
			"--tls-ca", filepath.Join(ca, "ca.crt")}
	}
	const n, ops = 5, 300
	seed := testutil.FreePort(t)
	obs := make([]string, n)
	procs := make([]*testutil.Proc, n)
	for i := range procs {
		gossipAddr := seed
		args := []string{"--discovery", "gossip"}
		if i > 0 {
			gossipAddr = testutil.FreePort(t)
			args = append(args, "--seed", seed)
		}
		obs[i] = testutil.FreePort(t)
		args = append(args, "--gossip-listen", gossipAddr, "--observability-listen", obs[i], "--log-level", "info",
			"--wait-before-run", "20s")
		args = append(args, tlsArgs(pki, fmt.Sprint("n", i))...)
		procs[i] = testutil.StartNX(t, []string{fmt.Sprintf("NX_OPS=%d", ops)},
			nodeRun(wasm, t.TempDir(), testutil.FreePort(t), args...)...)
	}
	for _, p := range procs {
		waitLog(t, p, "serving until")
	}
	deadline := time.Now().Add(time.Minute)
	for !allHold(t, obs, n, n*ops) {
		if time.Now().After(deadline) {
			for i, o := range obs {
				t.Logf("node %d: %s\nstderr tail:\n%s", i, nodeState(t, o), tail(procs[i].Stderr()))
			}
			t.Fatalf("timed out after 1m waiting for every node holding every op")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i, o := range obs {
		m := scrape(t, o)
		if m["numax_discovery_mode{mode=gossip}"] != 1 || m["numax_gossip_member_joins_total"] < n-1 {
			t.Fatalf("node %d metrics: mode %v, joins %v", i, m["numax_discovery_mode{mode=gossip}"], m["numax_gossip_member_joins_total"])
		}
	}

	// The intruder: same seed, another CA. Its gossip handshakes fail, it
	// never learns a member and no member lists it.
	intruder := testutil.StartNX(t, []string{"NX_OPS=1"}, nodeRun(wasm, t.TempDir(), testutil.FreePort(t),
		append([]string{"--discovery", "gossip", "--seed", seed, "--gossip-listen", testutil.FreePort(t),
			"--log-level", "debug"}, tlsArgs(foreignPKI, "x")...)...)...)
	waitLog(t, intruder, "serving until")
	testutil.Eventually(t, 30*time.Second, "the intruder refused by the seed", func() bool {
		return strings.Contains(procs[0].Stderr(), "gossip connection refused")
	})
	for i, o := range obs {
		if m := scrape(t, o); m["numax_discovery_members"] != n || m["numax_ops_total"] != n*ops {
			t.Fatalf("node %d after the intruder: members %v, ops %v", i, m["numax_discovery_members"], m["numax_ops_total"])
		}
	}
	if strings.Contains(intruder.Stderr(), "member joined") {
		t.Fatalf("the intruder learned a member:\n%s", intruder.Stderr())
	}
	for _, p := range append(procs, intruder) {
		_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	}
	for i, p := range procs {
		if code := p.Wait(t, time.Minute); code != 0 {
			t.Fatalf("node %d exited %d:\n%s", i, code, p.Stderr())
		}
	}
}

// allHold reports whether every node lists members members and holds ops ops.
func allHold(t *testing.T, obs []string, members, ops int) bool {
	for _, o := range obs {
		m := scrape(t, o)
		if m["numax_ops_total"] != float64(ops) || m["numax_discovery_members"] != float64(members) {
			return false
		}
	}
	return true
}

// nodeState is what a failed convergence wait says of a node: its op count,
// members, links, version vector and violations.
func nodeState(t *testing.T, addr string) string {
	m := scrape(t, addr)
	var keys []string
	for k := range m {
		if strings.HasPrefix(k, "numax_version_vector") || strings.HasPrefix(k, "numax_peer_violations") ||
			strings.HasPrefix(k, "numax_op_heads") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	s := fmt.Sprintf("ops %v, members %v, peers %v", m["numax_ops_total"], m["numax_discovery_members"], m["numax_peers_connected"])
	for _, k := range keys {
		s += fmt.Sprintf("\n  %s = %v", k, m[k])
	}
	return s
}
