//go:build !wasip1

package main

import (
	"os"
	"testing"
	"time"

	"github.com/numax/numax/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(testutil.Main(m)) }

// TestDistributedCounter runs three nodes as the README says and checks each
// prints the same converged total.
func TestDistributedCounter(t *testing.T) {
	wasm := testutil.GoGuest(t, "examples/distributed_counter")
	a1, a2, a3 := testutil.FreePort(t), testutil.FreePort(t), testutil.FreePort(t)
	common := []string{"--tls-insecure", "--settle-for", "3s", "--print-gcounter", "visits", "--log-level", "warn"}
	n1 := testutil.StartNX(t, nil, append([]string{"run", wasm, "--datastore-path", t.TempDir(), "--listen", a1}, common...)...)
	n2 := testutil.StartNX(t, []string{"NX_VISITS=2"}, append([]string{"run", wasm, "--datastore-path", t.TempDir(), "--listen", a2,
		"--peer", a1, "--wait-before-run", "5s"}, common...)...)
	n3 := testutil.StartNX(t, []string{"NX_VISITS=3"}, append([]string{"run", wasm, "--datastore-path", t.TempDir(), "--listen", a3,
		"--peer", a1, "--peer", a2, "--wait-before-run", "5s"}, common...)...)
	for i, n := range []*testutil.Proc{n1, n2, n3} {
		if code := n.Wait(t, time.Minute); code != 0 || n.Stdout() != "visits = 6\n" {
			t.Fatalf("node %d: exit %d stdout %q\nstderr: %s", i+1, code, n.Stdout(), n.Stderr())
		}
	}
}
