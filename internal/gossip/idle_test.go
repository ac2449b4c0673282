package gossip

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"
)

// An authenticated member that opens a packet connection and then sends
// nothing is disconnected after the idle timeout.
func TestIdlePacketConnectionClosed(t *testing.T) {
	ca := newCA(t)
	srv := identity(t, ca, "srv")
	tr, err := NewTLSTransport(TransportConfig{Listen: "127.0.0.1:0", TLS: srv, Timeout: time.Second, IdleTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown()
	cl := identity(t, ca, "idle")
	nc, err := net.Dial("tcp", tr.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	tc := tls.Client(nc, cl.ClientConfig())
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:1"
	if _, err := tc.Write(append([]byte{kindPacket, byte(len(addr))}, addr...)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_ = tc.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.ReadAll(tc)
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("idle packet connection held for %s (err %v)", el, err)
	}
}
