package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestAddr_OutsideEphemeralRange(t *testing.T) {
	start := ephemeralStart()
	for range 20 {
		addr, err := Addr()
		if err != nil {
			t.Fatal(err)
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := strconv.Atoi(port)
		if host != "127.0.0.1" || p < lowest || (start-1-lowest >= 1000 && p >= start) {
			t.Fatalf("Addr() = %s; want 127.0.0.1 with a port in [%d, %d)", addr, lowest, start)
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("Addr() = %s, which does not bind: %v", addr, err)
		}
		l.Close()
	}
}
