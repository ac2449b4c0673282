//go:build !wasip1

package main

import (
	"os"
	"strings"
	"testing"

	"github.com/numax/numax/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(testutil.Main(m)) }

func TestDistributedComments(t *testing.T) {
	wasm := testutil.GoGuest(t, "examples/distributed_comments")
	outs := testutil.RunCluster(t, wasm, []testutil.Node{
		{Env: []string{"NX_COMMENT=first!"}},
		{Env: []string{"NX_COMMENT=nice post"}},
		{Env: []string{"NX_COMMENT=+1"}},
	}, "--print-rga", "comments")
	testutil.SameOutput(t, outs, "")
	for _, c := range []string{"first!", "nice post", "+1"} {
		if !strings.Contains(outs[0], c) {
			t.Fatalf("%q lacks %q", outs[0], c)
		}
	}
}
