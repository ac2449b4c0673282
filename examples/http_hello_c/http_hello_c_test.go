//go:build !wasip1

package main

import (
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/numax/numax/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(testutil.Main(m)) }

func TestHTTPHelloC(t *testing.T) {
	wasm := testutil.CGuest(t, "examples/http_hello_c/guest/hello.c")
	addr := testutil.FreePort(t)
	testutil.StartNX(t, nil, "run", wasm, "--datastore-path", t.TempDir(), "--http", addr)
	do := func(method, path, ctype, body string) (int, string, string) {
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			return -1, err.Error(), ""
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(b), r.Header.Get("Content-Type")
	}
	testutil.Eventually(t, time.Minute, "the service to answer", func() bool { c, _, _ := do("GET", "/_nx/health", "", ""); return c == 200 })
	if c, b, _ := do("GET", "/hello", "", ""); c != 200 || b != "hello from C\n" {
		t.Fatalf("/hello = %d %q", c, b)
	}
	if c, b, ct := do("POST", "/echo", "text/x-test", "ping"); c != 200 || b != "ping" || ct != "text/x-test" {
		t.Fatalf("/echo = %d %q %q", c, b, ct)
	}
	if c, _, _ := do("GET", "/other", "", ""); c != 404 {
		t.Fatalf("/other = %d", c)
	}
}
