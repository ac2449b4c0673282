package testutil

import (
	"testing"

	"github.com/numax/numax/internal/tcpproxy"
)

// NewProxy starts a tcpproxy to target, closed when the test ends. Tests
// use it to partition nx processes on 127.0.0.1.
func NewProxy(t testing.TB, target string) *tcpproxy.Proxy {
	t.Helper()
	p, err := tcpproxy.New(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}
