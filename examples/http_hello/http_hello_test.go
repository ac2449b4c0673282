//go:build !wasip1

package main

import (
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/numax/numax/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(testutil.Main(m)) }

func TestHTTPHello(t *testing.T) {
	wasm := testutil.GoGuest(t, "examples/http_hello")
	addr := testutil.FreePort(t)
	p := testutil.StartNX(t, nil, "run", wasm, "--datastore-path", t.TempDir(), "--http", addr)
	get := func(method, path, body string) (int, string, string) {
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			return -1, err.Error(), ""
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(b), r.Header.Get("Content-Type")
	}
	testutil.Eventually(t, time.Minute, "the service to answer", func() bool { c, _, _ := get("GET", "/_nx/health", ""); return c == 200 })
	for _, tt := range []struct {
		method, path, body string
		code               int
		want, ctype        string
	}{
		{"GET", "/hello?name=numax", "", 200, "hello, numax\n", "text/plain; charset=utf-8"},
		{"GET", "/info", "", 200, `{"method":"GET","module":"` + wasm + `","path":"/info"}` + "\n", "application/json"},
		{"POST", "/echo", `{"a":1}`, 200, `{"a":1}` + "\n", "application/json"},
		{"POST", "/echo", `not json`, 400, "", ""},
		{"GET", "/", "", 200, "<h1>Hello from a Numax guest</h1>", "text/html; charset=utf-8"},
		{"GET", "/missing", "", 404, "404 page not found\n", ""},
	} {
		c, body, ct := get(tt.method, tt.path, tt.body)
		if c != tt.code || (tt.want != "" && !strings.Contains(body, tt.want)) || (tt.ctype != "" && ct != tt.ctype) {
			t.Errorf("%s %s = %d %q (%s), want %d %q (%s)", tt.method, tt.path, c, body, ct, tt.code, tt.want, tt.ctype)
		}
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	if code := p.Wait(t, time.Minute); code != 0 {
		t.Fatalf("exit %d\n%s", code, p.Stderr())
	}
}
