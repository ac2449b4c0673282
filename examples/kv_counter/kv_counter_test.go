//go:build !wasip1

package main

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/numax/numax/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(testutil.Main(m)) }

func TestKVCounter_PersistsAcrossRuns(t *testing.T) {
	wasm := testutil.GoGuest(t, "examples/kv_counter")
	data, other := t.TempDir(), t.TempDir()
	for i, c := range []struct {
		dir, sync string
		want      int
	}{{data, "interval", 1}, {data, "always", 2}, {data, "interval", 3}, {other, "interval", 1}} {
		r := testutil.RunNX(t, time.Minute, nil, "run", wasm, "--datastore-path", c.dir, "--sync", c.sync)
		if r.Code != 0 || r.Stdout != fmt.Sprintf("runs = %d\n", c.want) {
			t.Fatalf("run %d: exit %d stdout %q, want runs = %d\nstderr: %s", i, r.Code, r.Stdout, c.want, r.Stderr)
		}
	}
}
