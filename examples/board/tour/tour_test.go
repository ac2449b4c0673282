//go:build !wasip1

package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/numax/numax/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(testutil.Main(m)) }

// The tour `make demo` runs, against the real nx binary and the board
// built from source: three processes over mTLS, a cut through the proxy,
// edits on both sides, one board after the heal.
func TestTour(t *testing.T) {
	nx, board := testutil.NX(t), testutil.GoGuest(t, "examples/board")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out, nx, board, t.TempDir(), false); err != nil {
		t.Fatalf("tour: %v\n%s", err, out.String())
	}
	for _, want := range []string{"It appears on node 3 after", "node 3 (banner: Offline from peers)", "All three show the same board",
		"[x] Buy oat milk", "[ ] Call Alice"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("the tour did not show %q:\n%s", want, out.String())
		}
	}
}
