package hello_c

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/numax/numax/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(testutil.Main(m)) }

func TestHelloC(t *testing.T) {
	wasm := testutil.CGuest(t, "examples/hello_c/guest/hello.c")
	r := testutil.RunNX(t, time.Minute, nil, "run", wasm, "--datastore-path", t.TempDir())
	if r.Code != 0 {
		t.Fatalf("exit %d\nstderr: %s", r.Code, r.Stderr)
	}
	if !strings.Contains(r.Stderr, `msg="Hello from C!" module=`+wasm) {
		t.Fatalf("stderr: %s", r.Stderr)
	}
	if r.Stdout != "greeting = hello, datastore\n" {
		t.Fatalf("stdout = %q", r.Stdout)
	}
}
