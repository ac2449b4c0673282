package hello_c

import (
	"os"
	"regexp"
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
	if !regexp.MustCompile(`msg="Hello from C!" node=[0-9a-f]{32} module=` + regexp.QuoteMeta(wasm)).MatchString(r.Stderr) {
		t.Fatalf("stderr: %s", r.Stderr)
	}
	if r.Stdout != "greeting = hello, datastore\n" {
		t.Fatalf("stdout = %q", r.Stdout)
	}
}
