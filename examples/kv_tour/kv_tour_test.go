//go:build !wasip1

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"lukechampine.com/blake3"

	"github.com/numax/numax/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(testutil.Main(m)) }

func TestKVTour(t *testing.T) {
	wasm := testutil.GoGuest(t, "examples/kv_tour")
	r := testutil.RunNX(t, time.Minute, []string{"NX_GREETING=hi"}, "run", wasm, "--datastore-path", t.TempDir())
	if r.Code != 0 {
		t.Fatalf("exit %d\nstderr: %s", r.Code, r.Stderr)
	}
	s := sha256.Sum256([]byte("numax"))
	b := blake3.Sum256([]byte("numax"))
	want := strings.Join([]string{
		"get user/2 = bob",
		"exists user/2 = true",
		"after delete, exists user/2 = false",
		"scan user/ = user/1=alice, user/3=carol",
		"keys after user/1 = user/3",
		"keys page (offset 1, limit 2) = user/3, zeta",
		"big value round-trip = true (655360 bytes)",
		"sha256(numax) = " + hex.EncodeToString(s[:]),
		"blake3(numax) = " + hex.EncodeToString(b[:]),
		"random bytes = 16",
		`env NX_GREETING = "hi" (<nil>)`,
		"env PATH: nx: ERR_NOT_FOUND (-1)",
		"event tour.done: <nil>",
		"reserved key: nx: ERR_RESERVED_KEY (-4)",
		"missing key: nx: ERR_NOT_FOUND (-1), is ErrNotFound: true",
		"node id without sync: nx: ERR_SYNC_DISABLED (-5)",
	}, "\n") + "\n"
	if r.Stdout != want {
		t.Fatalf("stdout:\n%s\nwant:\n%s", r.Stdout, want)
	}
	if !regexp.MustCompile(`msg="guest event" node=[0-9a-f]{32} module=` + regexp.QuoteMeta(wasm) + ` event=tour.done payload_bytes=10`).MatchString(r.Stderr) {
		t.Fatalf("event not logged:\n%s", r.Stderr)
	}
}
