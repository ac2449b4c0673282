//go:build !wasip1

package main

import (
	"os"
	"testing"

	"github.com/numax/numax/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(testutil.Main(m)) }

func TestDistributedSettings(t *testing.T) {
	wasm := testutil.GoGuest(t, "examples/distributed_settings")
	outs := testutil.RunCluster(t, wasm, []testutil.Node{
		{Env: []string{"NX_SET=theme=dark"}},
		{Env: []string{"NX_SET=lang=en"}},
		{Env: []string{"NX_SET=tz=UTC"}},
	}, "--print-lww-map", "settings")
	testutil.SameOutput(t, outs, "settings = {lang=en, theme=dark, tz=UTC}\n")
}
