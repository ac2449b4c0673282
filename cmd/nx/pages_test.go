package main

import (
	"strings"
	"testing"
	"time"

	"github.com/numax/numax/internal/testutil"
)

// The Go SDK's paged readers (lwwmap/orset/rga All and ScanPage/Slice,
// text Pages and Read) give, through a real node, what the whole-object
// readers give, on objects of several pages with removed elements between.
func TestGuestPagedReaders(t *testing.T) {
	wasm := testutil.GoGuest(t, "testdata/guests/pages")
	r := testutil.RunNX(t, 2*time.Minute, nil, nodeRun(wasm, t.TempDir(), testutil.FreePort(t), "--tls-insecure", "--settle-for", "0s",
		"--log-level", "warn")...)
	if r.Code != 0 || !strings.Contains(r.Stdout, "pages ok: 466 fields, 466 elements, 700 values, 154000 characters") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, tail(r.Stderr))
	}
}
