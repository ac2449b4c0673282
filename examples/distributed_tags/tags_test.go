//go:build !wasip1

package main

import (
	"os"
	"testing"

	"github.com/numax/numax/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(testutil.Main(m)) }

func TestDistributedTags(t *testing.T) {
	wasm := testutil.GoGuest(t, "examples/distributed_tags")
	outs := testutil.RunCluster(t, wasm, []testutil.Node{
		{Env: []string{"NX_ADD=go,wasm"}},
		{Env: []string{"NX_ADD=crdt"}},
		{Env: []string{"NX_ADD=rust", "NX_REMOVE=rust"}},
	}, "--print-orset", "tags")
	testutil.SameOutput(t, outs, "tags = [crdt, go, wasm]\n")
}
