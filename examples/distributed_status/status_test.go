//go:build !wasip1

package main

import (
	"os"
	"testing"

	"github.com/numax/numax/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(testutil.Main(m)) }

func TestDistributedStatus(t *testing.T) {
	wasm := testutil.GoGuest(t, "examples/distributed_status")
	outs := testutil.RunCluster(t, wasm, []testutil.Node{
		{Env: []string{"NX_STATUS=booting"}},
		{Env: []string{"NX_STATUS=degraded"}},
		{},
	}, "--print-lww-register", "status")
	testutil.SameOutput(t, outs, "")
	if outs[0] != "status = booting\n" && outs[0] != "status = degraded\n" {
		t.Fatalf("converged to %q", outs[0])
	}
}
