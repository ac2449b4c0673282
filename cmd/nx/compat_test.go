package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/numax/numax/internal/testutil"
)

// Guests written for the original Numax runtime (2-argument host_log_v2,
// 8 KiB keys, bare wasm32 or WASI builds) run unchanged. The fixture
// testdata/compat/compat.c imports only the original's signatures.

const compatSrc = "testdata/compat/compat.c"

func compatGuests(t *testing.T) map[string]string {
	return map[string]string{
		"bare_wasm32": testutil.CGuestBare(t, compatSrc),
		"wasip1":      testutil.CGuestWASI(t, compatSrc),
	}
}

func TestCompat_OriginalGuestsRun(t *testing.T) {
	summary := regexp.MustCompile(`msg="compat SUMMARY checks=(\d+) fails=0"`)
	for name, wasm := range compatGuests(t) {
		t.Run(name, func(t *testing.T) {
			r := testutil.RunNX(t, timeout, nil, "run", wasm, "--datastore-path", t.TempDir(),
				"--listen", testutil.FreePort(t), "--tls-insecure", "--settle-for", "0s")
			if r.Code != 0 {
				t.Fatalf("exit %d\nstderr: %s", r.Code, tail(r.Stderr))
			}
			m := summary.FindStringSubmatch(r.Stderr)
			if m == nil || m[1] != "56" {
				t.Fatalf("no summary with 56 checks and 0 fails\nstderr: %s", tail(r.Stderr))
			}
			if strings.Contains(r.Stderr, "compat FAIL") {
				t.Fatalf("a check failed:\n%s", tail(r.Stderr))
			}
			// host_log_v2 lines are info lines with the module id.
			if !strings.Contains(r.Stderr, `level=INFO msg="compat: hello from an original guest" node=`) {
				t.Fatalf("original host_log_v2 line missing:\n%s", tail(r.Stderr))
			}
			if name == "wasip1" && !strings.Contains(r.Stdout, "compat SUMMARY checks=56 fails=0\n") {
				t.Fatalf("WASI stdout = %q", r.Stdout)
			}
		})
	}
}

// The bare build really is what wasm32-unknown-unknown toolchains emit: no
// WASI import, and the linker's globals exported.
func TestCompat_BareModuleShape(t *testing.T) {
	b, err := os.ReadFile(compatGuests(t)["bare_wasm32"])
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("wasi_snapshot_preview1")) {
		t.Fatal("bare module imports WASI")
	}
	for _, name := range []string{"__data_end", "__heap_base", "memory", "run", "host_log_v2"} {
		if !bytes.Contains(b, []byte(name)) {
			t.Errorf("bare module lacks %s", name)
		}
	}
}

// Without sync an original guest's CRDT calls answer -5 as they did there,
// so the fixture fails its checks and aborts: the host tells it clearly.
func TestCompat_WithoutSyncAborts(t *testing.T) {
	wasm := compatGuests(t)["bare_wasm32"]
	r := testutil.RunNX(t, timeout, nil, "run", wasm, "--datastore-path", t.TempDir())
	if r.Code != 1 || !strings.Contains(r.Stderr, "compat FAIL gcounter_inc: got -5 want 0") ||
		!strings.Contains(r.Stderr, "guest abort: compat checks failed") {
		t.Fatalf("exit %d\nstderr: %s", r.Code, tail(r.Stderr))
	}
}

// Two nodes over mTLS, each running the unmodified original guest (bare
// wasm32 on one, WASI on the other), converge on every replicated value.
func TestCompat_TwoNodesConverge(t *testing.T) {
	g := compatGuests(t)
	pki := t.TempDir()
	testutil.RunNX(t, time.Minute, nil, "cert", "ca", "--dir", pki)
	tls := func(n string) []string {
		if r := testutil.RunNX(t, time.Minute, nil, "cert", "node", n, "--ca-dir", pki, "--dir", pki); r.Code != 0 {
			t.Fatalf("nx cert node %s: %s", n, r.Stderr)
		}
		return []string{"--tls-cert", filepath.Join(pki, n+".crt"), "--tls-key", filepath.Join(pki, n+".key"),
			"--tls-ca", filepath.Join(pki, "ca.crt")}
	}
	a, b := tls("a"), tls("b")
	addrA, addrB := testutil.FreePort(t), testutil.FreePort(t)
	common := []string{"--wait-before-run", "20s", "--settle-for", "3s", "--log-level", "warn",
		"--print-gcounter", "compat.visits", "--print-pncounter", "compat.balance", "--print-orset", "compat.members",
		"--print-lww-map", "compat.profile", "--print-rga", "compat.list"}
	pa := testutil.StartNX(t, []string{"NX_COMPAT_DELTA=1"}, append(append(nodeRun(g["bare_wasm32"], t.TempDir(), addrA, "--peer", addrB), a...), common...)...)
	pb := testutil.StartNX(t, []string{"NX_COMPAT_DELTA=2"}, append(append(nodeRun(g["wasip1"], t.TempDir(), addrB, "--peer", addrA), b...), common...)...)
	outA, outB := exitOK(t, pa, "a"), exitOK(t, pb, "b")
	// The WASI build also prints its summary to stdout.
	outB = strings.Replace(outB, "compat SUMMARY checks=56 fails=0\n", "", 1)
	want := "compat.visits = 3\ncompat.balance = 6\ncompat.profile = {name=ada}\n" +
		"compat.members = [node-1, node-2]\ncompat.list = [second, second]\n"
	for _, out := range []string{outA, outB} {
		if sortLines(out) != sortLines(want) {
			t.Fatalf("a printed %q\nb printed %q\nwant (any order of lines) %q", outA, outB, want)
		}
	}
}

func sortLines(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	slices.Sort(l)
	return strings.Join(l, "\n")
}

func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}
