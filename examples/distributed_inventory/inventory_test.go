//go:build !wasip1

package main

import (
	"os"
	"testing"

	"github.com/numax/numax/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(testutil.Main(m)) }

func TestDistributedInventory(t *testing.T) {
	wasm := testutil.GoGuest(t, "examples/distributed_inventory")
	outs := testutil.RunCluster(t, wasm, []testutil.Node{
		{Env: []string{"NX_ACTION=restock", "NX_QTY=10"}},
		{Env: []string{"NX_ACTION=sell", "NX_QTY=3"}},
		{Env: []string{"NX_ACTION=sell", "NX_QTY=2"}},
	}, "--print-pncounter", "stock")
	testutil.SameOutput(t, outs, "stock = 5\n")
}
