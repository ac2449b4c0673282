// Package freeport finds 127.0.0.1 addresses to give to processes that will
// listen on them later.
//
// A port the kernel hands out for ":0" comes from the ephemeral range, the
// same range it draws from for outgoing connections. Between the moment
// such a port is found free and the moment the child process binds it, any
// outgoing connection on the machine (a running cluster dials a lot) can
// take it, and the child fails with "address already in use". Ports below
// the ephemeral range are never given to outgoing connections, so Addr
// picks one of those, at random, and checks that it binds.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// lowest is the first port Addr considers: above the well-known and the
// usual registered service ports of a developer machine.
const lowest = 10000

// Addr returns a 127.0.0.1 address whose port is free now and lies outside
// the kernel's ephemeral port range.
func Addr() (string, error) {
	lo, hi := lowest, ephemeralStart()-1
	if hi-lo < 1000 {
		// An unusual ephemeral range leaves no room below it: fall back to
		// the kernel's choice.
		return kernelAddr()
	}
	var lastErr error
	for range 100 {
		port := lo + rand.IntN(hi-lo+1)
		if !claim(port) {
			continue // handed out already, maybe not bound yet
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			lastErr = err
			continue
		}
		addr := l.Addr().String()
		l.Close()
		return addr, nil
	}
	return "", fmt.Errorf("freeport: no free port in %d-%d after 100 tries: %w", lo, hi, lastErr)
}

// given holds the ports Addr has handed out in this process: one found free
// and given to a child that has not bound it yet is still free, and drawing
// it again would give two children the same port (among the 96 addresses of
// a 32-node bench cluster, about one run in five).
var (
	givenMu sync.Mutex
	given   = map[int]bool{}
)

// claim marks port as handed out; false if it was already.
func claim(port int) bool {
	givenMu.Lock()
	defer givenMu.Unlock()
	if given[port] {
		return false
	}
	given[port] = true
	return true
}

func kernelAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// ephemeralStart reads the first port of Linux's ephemeral range; elsewhere
// (or if it cannot be read) it assumes the IANA range, 49152-65535.
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 49152
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 49152
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n <= 0 {
		return 49152
	}
	return n
}
