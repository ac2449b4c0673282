// Package gossip is Numax's membership: hashicorp/memberlist (SWIM with
// Lifeguard) carried over the node's own TLS identity, plus the choice of
// which members a node links to.
//
// Every memberlist byte travels over TLS 1.3 with the cluster's mutual
// authentication: the peer's certificate must chain to the cluster CA and,
// with an allowlist, name an allowed NodeId. Packets (probes, gossip) are
// framed over one reused connection per destination; streams (push-pull
// state exchange) each take a fresh connection. A node without an allowed
// certificate completes no handshake, so it can neither join, read the
// member list, nor inject messages.
package gossip

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/numax/numax/internal/transport"
)

const (
	kindPacket = 'P' // a connection carrying framed packets
	kindStream = 'S' // a memberlist stream

	// maxPacket bounds one framed packet (memberlist's are far smaller).
	maxPacket = 1 << 20
)

// TransportConfig configures a TLSTransport.
type TransportConfig struct {
	// Listen is the gossip address, "host:port" (port 0 picks one).
	Listen string
	// TLS is the node's identity; nil runs plain TCP (insecure).
	TLS *transport.Identity
	// Trust, if set, is the node's swappable identity and allowlist (shared
	// with its op links): handshakes use its current ones, so a reload
	// reaches gossip too.
	Trust *transport.Trust
	// AllowedPeers, if not empty, are the only NodeIds accepted.
	AllowedPeers []string
	// Timeout bounds a dial, a handshake and a packet write.
	Timeout time.Duration
	// IdleTimeout closes an inbound packet connection that carries nothing
	// for this long (default 2 min): a member that stops gossiping, or a
	// peer that only opens connections, does not hold them forever.
	IdleTimeout time.Duration
	Logger      *slog.Logger
}

// TLSTransport is a memberlist.Transport over mutually authenticated TLS
// (or plain TCP without an identity).
type TLSTransport struct {
	cfg      TransportConfig
	log      *slog.Logger
	ln       net.Listener
	addr     *net.TCPAddr
	allowed  map[string]bool
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn

	// mu guards out, in, closed and nRejects.
	mu     sync.Mutex
	out    map[string]*packetConn // by destination address
	in     map[net.Conn]bool
	closed bool
	wg     sync.WaitGroup
	done   chan struct{}

	nRejects int64 // connections refused by TLS or the allowlist (under mu)
}

type packetConn struct {
	mu sync.Mutex
	c  net.Conn
	w  *bufio.Writer
}

var _ memberlist.Transport = (*TLSTransport)(nil)

// DefaultIdleTimeout is how long an inbound packet connection may carry
// nothing before it is closed.
const DefaultIdleTimeout = 2 * time.Minute

// NewTLSTransport binds the gossip listener and starts accepting.
func NewTLSTransport(cfg TransportConfig) (*TLSTransport, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("gossip: listen on %s: %w", cfg.Listen, err)
	}
	t := &TLSTransport{
		cfg: cfg, log: cfg.Logger, ln: ln, addr: ln.Addr().(*net.TCPAddr), allowed: map[string]bool{},
		packetCh: make(chan *memberlist.Packet, 1024), streamCh: make(chan net.Conn, 64),
		out: map[string]*packetConn{}, in: map[net.Conn]bool{}, done: make(chan struct{}),
	}
	for _, id := range cfg.AllowedPeers {
		t.allowed[id] = true
	}
	t.wg.Add(1)
	go t.acceptLoop()
	return t, nil
}

// Addr is the bound gossip address.
func (t *TLSTransport) Addr() *net.TCPAddr { return t.addr }

// Rejects is how many connections failed authentication so far.
func (t *TLSTransport) Rejects() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.nRejects
}

// verify adds the allowlist to the identity's CA check.
func (t *TLSTransport) verify(base func(tls.ConnectionState) error) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if err := base(cs); err != nil {
			return err
		}
		id := transport.NodeIDFromCert(cs.PeerCertificates[0])
		if len(t.allowed) > 0 && !t.allowed[id] {
			return fmt.Errorf("NodeId %s is not in allowed_peers", id)
		}
		return nil
	}
}

func (t *TLSTransport) serverConfig() *tls.Config {
	if t.cfg.Trust != nil {
		return t.cfg.Trust.ServerConfig()
	}
	c := t.cfg.TLS.ServerConfig()
	c.VerifyConnection = t.verify(c.VerifyConnection)
	return c
}

func (t *TLSTransport) clientConfig() *tls.Config {
	if t.cfg.Trust != nil {
		return t.cfg.Trust.ClientConfig()
	}
	c := t.cfg.TLS.ClientConfig()
	c.VerifyConnection = t.verify(c.VerifyConnection)
	return c
}

func (t *TLSTransport) reject(remote net.Addr, err error) {
	t.mu.Lock()
	t.nRejects++
	t.mu.Unlock()
	t.log.Warn("gossip connection refused", "remote", remote.String(), "err", err)
}

func (t *TLSTransport) acceptLoop() {
	defer t.wg.Done()
	transport.AcceptLoop(t.ln, t.done, &t.wg, t.log, "gossip accept failed", t.serve)
}

// serve authenticates an inbound connection and reads its kind.
func (t *TLSTransport) serve(nc net.Conn) {
	_ = nc.SetDeadline(time.Now().Add(t.cfg.Timeout))
	if t.cfg.TLS != nil {
		tc := tls.Server(nc, t.serverConfig())
		if err := tc.Handshake(); err != nil {
			t.reject(nc.RemoteAddr(), err)
			_ = nc.Close()
			return
		}
		nc = tc
	}
	var kind [1]byte
	if _, err := io.ReadFull(nc, kind[:]); err != nil {
		_ = nc.Close()
		return
	}
	switch kind[0] {
	case kindStream:
		_ = nc.SetDeadline(time.Time{})
		select {
		case t.streamCh <- nc:
		case <-t.done:
			_ = nc.Close()
		}
	case kindPacket:
		t.readPackets(nc)
	default:
		t.log.Warn("gossip connection with an unknown kind byte", "remote", nc.RemoteAddr().String(), "kind", kind[0])
		_ = nc.Close()
	}
}

// readPackets reads the sender's advertised address, then frames, until
// the connection ends.
func (t *TLSTransport) readPackets(nc net.Conn) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		_ = nc.Close()
		return
	}
	t.in[nc] = true
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.in, nc)
		t.mu.Unlock()
		_ = nc.Close()
	}()
	r := bufio.NewReader(nc)
	n, err := r.ReadByte()
	if err != nil {
		return
	}
	ab := make([]byte, n)
	if _, err := io.ReadFull(r, ab); err != nil {
		return
	}
	from, err := net.ResolveTCPAddr("tcp", string(ab))
	if err != nil {
		t.log.Warn("gossip packet connection with a bad address", "remote", nc.RemoteAddr().String(), "addr", string(ab))
		return
	}
	_ = nc.SetDeadline(time.Time{})
	var hdr [4]byte
	for {
		_ = nc.SetReadDeadline(time.Now().Add(t.cfg.IdleTimeout))
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		size := binary.BigEndian.Uint32(hdr[:])
		if size == 0 || size > maxPacket {
			t.log.Warn("gossip packet size out of bounds; closing", "remote", from.String(), "size", size)
			return
		}
		buf := make([]byte, size)
		if _, err := io.ReadFull(r, buf); err != nil {
			return
		}
		select {
		case t.packetCh <- &memberlist.Packet{Buf: buf, From: from, Timestamp: time.Now()}:
		case <-t.done:
			return
		}
	}
}

// dial opens an authenticated connection of the given kind.
func (t *TLSTransport) dial(addr string, kind byte, timeout time.Duration) (net.Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	_ = nc.SetDeadline(time.Now().Add(timeout))
	if t.cfg.TLS != nil {
		tc := tls.Client(nc, t.clientConfig())
		if err := tc.Handshake(); err != nil {
			_ = nc.Close()
			t.reject(nc.RemoteAddr(), err)
			return nil, fmt.Errorf("gossip: TLS handshake with %s: %w", addr, err)
		}
		nc = tc
	}
	if _, err := nc.Write([]byte{kind}); err != nil {
		_ = nc.Close()
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	return nc, nil
}

// FinalAdvertiseAddr advertises the bound address (or the configured one).
func (t *TLSTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	if ip != "" {
		parsed := net.ParseIP(ip)
		if parsed == nil {
			return nil, 0, fmt.Errorf("gossip: advertise address %q is not an IP", ip)
		}
		return parsed, port, nil
	}
	if t.addr.IP.IsUnspecified() {
		return nil, 0, fmt.Errorf("gossip: listening on %s; set an address to advertise", t.addr)
	}
	return t.addr.IP, t.addr.Port, nil
}

// WriteTo sends one packet over the (reused) connection to addr.
func (t *TLSTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	if len(b) > maxPacket {
		return time.Time{}, fmt.Errorf("gossip: packet of %d bytes exceeds %d", len(b), maxPacket)
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return time.Time{}, net.ErrClosed
	}
	pc := t.out[addr]
	if pc == nil {
		pc = &packetConn{}
		t.out[addr] = pc
	}
	t.mu.Unlock()

	pc.mu.Lock()
	defer pc.mu.Unlock()
	// A reused connection may have been closed by the far end since the
	// last packet: then one fresh connection is tried.
	for attempt := 0; ; attempt++ {
		reused := pc.c != nil
		if !reused {
			if err := t.openPacketConn(pc, addr); err != nil {
				return time.Time{}, err
			}
		}
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], uint32(len(b)))
		_ = pc.c.SetWriteDeadline(time.Now().Add(t.cfg.Timeout))
		_, err := pc.w.Write(hdr[:])
		if err == nil {
			_, err = pc.w.Write(b)
		}
		if err == nil {
			err = pc.w.Flush()
		}
		if err == nil {
			return time.Now(), nil
		}
		_ = pc.c.Close()
		pc.c, pc.w = nil, nil
		if !reused || attempt > 0 {
			return time.Time{}, err
		}
	}
}

// openPacketConn dials addr for packets and sends this node's advertised
// address; pc.mu is held.
func (t *TLSTransport) openPacketConn(pc *packetConn, addr string) error {
	c, err := t.dial(addr, kindPacket, t.cfg.Timeout)
	if err != nil {
		return err
	}
	self := t.advertised()
	if len(self) > 255 {
		_ = c.Close()
		return fmt.Errorf("gossip: advertised address %q is too long", self)
	}
	hello := append([]byte{byte(len(self))}, self...)
	_ = c.SetWriteDeadline(time.Now().Add(t.cfg.Timeout))
	if _, err := c.Write(hello); err != nil {
		_ = c.Close()
		return err
	}
	pc.c, pc.w = c, bufio.NewWriter(c)
	// The far end never writes on a packet connection: a read returns only
	// when it closes, which retires this connection.
	t.wg.Add(1)
	go func(c net.Conn) {
		defer t.wg.Done()
		_, _ = io.Copy(io.Discard, c)
		pc.mu.Lock()
		if pc.c == c {
			pc.c, pc.w = nil, nil
		}
		pc.mu.Unlock()
		_ = c.Close()
	}(c)
	return nil
}

func (t *TLSTransport) advertised() string {
	return net.JoinHostPort(t.addr.IP.String(), strconv.Itoa(t.addr.Port))
}

// PacketCh delivers inbound packets.
func (t *TLSTransport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

// DialTimeout opens a fresh stream connection.
func (t *TLSTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.dial(addr, kindStream, timeout)
}

// StreamCh delivers inbound streams.
func (t *TLSTransport) StreamCh() <-chan net.Conn { return t.streamCh }

// Shutdown stops listening and closes every connection; it is idempotent.
func (t *TLSTransport) Shutdown() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	close(t.done)
	var conns []net.Conn
	for c := range t.in {
		conns = append(conns, c)
	}
	outs := make([]*packetConn, 0, len(t.out))
	for _, pc := range t.out {
		outs = append(outs, pc)
	}
	t.mu.Unlock()
	_ = t.ln.Close()
	for _, c := range conns {
		_ = c.Close()
	}
	for _, pc := range outs {
		pc.mu.Lock()
		if pc.c != nil {
			_ = pc.c.Close()
		}
		pc.mu.Unlock()
	}
	t.wg.Wait()
	return nil
}
