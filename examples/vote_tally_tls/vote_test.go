//go:build !wasip1

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/numax/numax/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(testutil.Main(m)) }

// TestVoteTallyTLS: an mTLS cluster whose certificates come from nx cert
// only converges, and each NodeId is what nx cert id says of its cert.
func TestVoteTallyTLS(t *testing.T) {
	wasm := testutil.GoGuest(t, "examples/vote_tally_tls")
	pki := filepath.Join(t.TempDir(), "pki")
	if r := testutil.RunNX(t, time.Minute, nil, "cert", "ca", "--dir", pki); r.Code != 0 {
		t.Fatalf("cert ca: %s", r.Stderr)
	}
	ids := map[string]string{}
	for _, n := range []string{"a", "b", "c"} {
		r := testutil.RunNX(t, time.Minute, nil, "cert", "node", n, "--ca-dir", pki, "--dir", pki)
		id := strings.TrimSpace(r.Stdout)
		if r.Code != 0 || len(id) != 32 {
			t.Fatalf("cert node %s: %q %s", n, r.Stdout, r.Stderr)
		}
		if got := strings.TrimSpace(testutil.RunNX(t, time.Minute, nil, "cert", "id", filepath.Join(pki, n+".crt")).Stdout); got != id {
			t.Fatalf("cert id %s = %s, cert node said %s", n, got, id)
		}
		ids[n] = id
	}
	tlsArgs := func(n, other1, other2 string) []string {
		return []string{"--tls-cert", filepath.Join(pki, n+".crt"), "--tls-key", filepath.Join(pki, n+".key"),
			"--tls-ca", filepath.Join(pki, "ca.crt"), "--allowed-peers", ids[other1] + "," + ids[other2], "--log-level", "info"}
	}
	outs := testutil.RunCluster(t, wasm, []testutil.Node{
		{Env: []string{"NX_VOTE=alice"}, Args: tlsArgs("a", "b", "c")},
		{Env: []string{"NX_VOTE=bob"}, Args: tlsArgs("b", "a", "c")},
		{Env: []string{"NX_VOTE=alice"}, Args: tlsArgs("c", "a", "b")},
	}, "--print-gcounter", "votes:alice", "--print-gcounter", "votes:bob")
	testutil.SameOutput(t, outs, "votes:alice = 2\nvotes:bob = 1\n")
}
