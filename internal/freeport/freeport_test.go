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

// TestAddr_NeverTheSamePortTwice: ports handed out stay free until their
// children bind them, so Addr must not draw one again. 2000 draws from the
// ~22,800 ports below Linux's default ephemeral range would repeat one
// about 88 times on average without the record of what was handed out.
func TestAddr_NeverTheSamePortTwice(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		addr, err := Addr()
		if err != nil {
			t.Fatal(err)
		}
		if seen[addr] {
			t.Fatalf("Addr() returned %s twice", addr)
		}
		seen[addr] = true
	}
}
