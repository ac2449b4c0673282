package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/numax/numax/internal/abi"
	"github.com/numax/numax/internal/replica"
	"github.com/numax/numax/internal/wire"
	"github.com/numax/numax/internal/wire/wirepb"
)

// errNotKept is a dial whose link lost to an existing one to the same peer:
// the peer is connected, just not through this socket.
var errNotKept = errors.New("link not kept")

// errSlotsFull is a dial refused because max_peers links are up; the dialer
// backs off and takes a slot when one frees (simple rotation).
var errSlotsFull = errors.New("max_peers reached")

// conn is one handshaken link to a peer.
type conn struct {
	t      *Transport
	nc     net.Conn
	peer   string // NodeId
	addr   string // the peer's listen address if it gave one, else its remote address
	dialer string // NodeId of the side that dialed
	tag    byte   // format this side sends

	out  chan []byte // encoded frames for the writer
	done chan struct{}
	once sync.Once
	why  string // guarded by once
}

func (c *conn) close(reason string) {
	c.once.Do(func() {
		c.why = reason
		close(c.done)
		_ = c.nc.Close()
	})
}

// send queues a frame; it gives up (and drops the link) if the writer cannot
// take it within a socket timeout.
func (c *conn) send(f *wirepb.Frame) error {
	b, err := wire.EncodeFrame(f, c.tag)
	if err != nil {
		return err
	}
	return c.sendFrame(b)
}

// sendFrame queues an encoded frame, as send does.
func (c *conn) sendFrame(b []byte) error {
	if len(b)-4 > c.t.cfg.MaxMessageSize {
		return fmt.Errorf("transport: message of %d bytes is over max_message_size", len(b))
	}
	select {
	case c.out <- b:
		return nil
	case <-c.done:
		return fmt.Errorf("transport: link to %s closed", c.peer)
	default:
	}
	timer := time.NewTimer(c.t.cfg.SocketTimeout)
	defer timer.Stop()
	select {
	case c.out <- b:
		return nil
	case <-c.done:
		return fmt.Errorf("transport: link to %s closed", c.peer)
	case <-timer.C:
		c.close("peer too slow to read")
		return fmt.Errorf("transport: %s too slow; link dropped", c.peer)
	}
}

func (t *Transport) writeFrame(nc net.Conn, tag byte, f *wirepb.Frame) error {
	b, err := wire.EncodeFrame(f, tag)
	if err != nil {
		return err
	}
	_ = nc.SetWriteDeadline(time.Now().Add(t.cfg.SocketTimeout))
	_, err = nc.Write(b)
	return err
}

func (t *Transport) readFrame(r io.Reader, nc net.Conn) (*wirepb.Frame, error) {
	f, _, err := t.readMessage(r, nc, nil)
	return f, err
}

// readMessage reads one frame: a PushOps in its plain binary form comes
// back decoded as a message (wire.DecodePush), any other frame as a Frame.
// With buf set, the frame is read into *buf when it fits (and *buf may be
// replaced): nothing decoded keeps the frame's bytes.
func (t *Transport) readMessage(r io.Reader, nc net.Conn, buf *[]byte) (*wirepb.Frame, *wire.Message, error) {
	_ = nc.SetReadDeadline(time.Now().Add(t.cfg.SocketTimeout))
	if buf == nil {
		buf = new([]byte) // a frame read once
	}
	tag, payload, next, err := wire.ReadFrameReuse(r, t.cfg.MaxMessageSize, *buf)
	*buf = next
	if err != nil {
		return nil, nil, err
	}
	t.bytesIn.Add(uint64(len(payload) + 5))
	if tag == wire.TagBinary {
		if m, ok := wire.DecodePush(payload); ok {
			return nil, m, nil
		}
	}
	f, err := wire.Unmarshal(tag, payload)
	return f, nil, err
}

func (t *Transport) hello() *wirepb.Frame {
	pref := wirepb.Format_FORMAT_BINARY
	if t.cfg.Debug {
		pref = wirepb.Format_FORMAT_JSON
	}
	listen := ""
	if t.ln != nil {
		listen = t.ln.Addr().String()
	}
	return &wirepb.Frame{Msg: &wirepb.Frame_Hello{Hello: &wirepb.Hello{
		NodeId: t.cfg.NodeID, ProtocolVersion: wire.ProtocolVersion,
		SupportedFormats: []wirepb.Format{wirepb.Format_FORMAT_BINARY, wirepb.Format_FORMAT_JSON},
		PreferredFormat:  pref, Vv: t.cfg.VV(), ListenAddr: listen,
	}}}
}

// checkPeer applies the identity rules to a peer claiming id: with TLS the
// claim must equal the certificate's NodeId, the peer must be allowed, and it
// must not be this node.
func (t *Transport) checkPeer(nc net.Conn, claimed string) error {
	if !abi.ValidNodeID(claimed) {
		return fmt.Errorf("claimed NodeId %q is malformed", claimed)
	}
	if tc, ok := nc.(*tls.Conn); ok {
		certs := tc.ConnectionState().PeerCertificates
		if len(certs) == 0 {
			return errors.New("no client certificate")
		}
		if derived := NodeIDFromCert(certs[0]); derived != claimed {
			return fmt.Errorf("claims NodeId %s but its certificate is NodeId %s", claimed, derived)
		}
	}
	if !t.PeerAllowed(claimed) {
		return fmt.Errorf("NodeId %s is not in allowed_peers", claimed)
	}
	if claimed == t.cfg.NodeID {
		return errors.New("connected to itself")
	}
	return nil
}

// dial opens and handshakes a link to addr. refused means the peer refused
// this node by identity or version, or is not acceptable: never redial.
func (t *Transport) dial(ctx context.Context, addr string) (c *conn, refused bool, err error) {
	done := make(chan struct{})
	t.mu.Lock()
	t.dialing[addr] = done
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		if t.dialing[addr] == done {
			delete(t.dialing, addr)
		}
		t.mu.Unlock()
		close(done)
	}()
	d := net.Dialer{Timeout: t.cfg.SocketTimeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	if t.trust != nil {
		tc := tls.Client(nc, t.trust.ClientConfig())
		_ = tc.SetDeadline(time.Now().Add(t.cfg.SocketTimeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			return nil, isAuthError(err), fmt.Errorf("TLS handshake with %s: %w", addr, err)
		}
		_ = tc.SetDeadline(time.Time{})
		nc = tc
	}
	fail := func(refused bool, err error) (*conn, bool, error) {
		_ = nc.Close()
		return nil, refused, err
	}
	if err := t.writeFrame(nc, t.tag, t.hello()); err != nil {
		return fail(false, err)
	}
	br := bufio.NewReader(nc)
	f, err := t.readFrame(br, nc)
	if err != nil {
		// In TLS 1.3 the listener checks this node's certificate (and its
		// allowlist) after the client's side of the handshake is done: a
		// refusal arrives as an alert on the first read.
		return fail(isAuthError(err), fmt.Errorf("handshake with %s: %w", addr, err))
	}
	var ack *wirepb.HelloAck
	switch x := f.Msg.(type) {
	case *wirepb.Frame_HelloAck:
		ack = x.HelloAck
	case *wirepb.Frame_Error:
		return fail(isFinal(x.Error), fmt.Errorf("%s refused the link: %s", addr, describe(x.Error)))
	default:
		return fail(false, fmt.Errorf("handshake with %s: expected HelloAck", addr))
	}
	if ack.GetProtocolVersion() != wire.ProtocolVersion {
		t.log.Error("protocol mismatch", "addr", addr, "expected", wire.ProtocolVersion, "got", ack.GetProtocolVersion())
		return fail(true, fmt.Errorf("ProtocolMismatch: %s speaks version %d, this node %d", addr, ack.GetProtocolVersion(), wire.ProtocolVersion))
	}
	if err := t.checkPeer(nc, ack.GetNodeId()); err != nil {
		t.log.Error("peer refused", "addr", addr, "reason", err.Error())
		return fail(true, err)
	}
	c = &conn{t: t, nc: nc, peer: ack.GetNodeId(), addr: addr, dialer: t.cfg.NodeID, tag: t.tag,
		out: make(chan []byte, 256), done: make(chan struct{})}
	if ack.GetChosenFormat() == wirepb.Format_FORMAT_JSON {
		c.tag = wire.TagJSON
	}
	t.mu.Lock()
	t.addrPeer[addr] = c.peer
	t.mu.Unlock()
	if ok, why := t.register(c); !ok {
		_, _, _ = fail(false, nil)
		if strings.HasPrefix(why, "max_peers") {
			return nil, false, fmt.Errorf("%w: %s", errSlotsFull, why)
		}
		return nil, false, fmt.Errorf("%w: %s", errNotKept, why)
	}
	t.run(c, br)
	return c, false, nil
}

// accept handshakes an inbound link.
func (t *Transport) accept(nc net.Conn) {
	remote := nc.RemoteAddr().String()
	if t.trust != nil {
		tc := tls.Server(nc, t.trust.ServerConfig())
		_ = tc.SetDeadline(time.Now().Add(t.cfg.SocketTimeout))
		if err := tc.HandshakeContext(t.ctx); err != nil {
			t.log.Warn("inbound TLS handshake failed", "remote", remote, "err", err)
			_ = nc.Close()
			return
		}
		_ = tc.SetDeadline(time.Time{})
		nc = tc
	}
	br := bufio.NewReader(nc)
	f, err := t.readFrame(br, nc)
	if err != nil {
		t.log.Warn("inbound handshake failed", "remote", remote, "err", err)
		_ = nc.Close()
		return
	}
	h, ok := f.Msg.(*wirepb.Frame_Hello)
	if !ok {
		t.log.Warn("inbound link did not start with Hello", "remote", remote)
		_ = nc.Close()
		return
	}
	hello := h.Hello
	refuse := func(f *wirepb.Frame, reason string) {
		t.refusals.Add(1)
		t.log.Error("inbound peer refused", "remote", remote, "claimed", hello.GetNodeId(), "reason", reason)
		_ = t.writeFrame(nc, wire.TagBinary, f)
		_ = nc.Close()
	}
	if v := hello.GetProtocolVersion(); v != wire.ProtocolVersion {
		refuse(refusal(&wirepb.Error{Kind: &wirepb.Error_ProtocolMismatch{ProtocolMismatch: &wirepb.ProtocolMismatch{
			Expected: wire.ProtocolVersion, Got: v}}}), fmt.Sprintf("ProtocolMismatch: expected %d, got %d", wire.ProtocolVersion, v))
		return
	}
	if err := t.checkPeer(nc, hello.GetNodeId()); err != nil {
		refuse(notAuthorized(err.Error()), err.Error())
		return
	}
	if err := wire.ValidVV(hello.GetVv()); err != nil {
		refuse(notAuthorized("malformed version vector"), err.Error())
		return
	}
	tag := t.tag
	if hello.GetPreferredFormat() == wirepb.Format_FORMAT_JSON {
		tag = wire.TagJSON
	}
	addr := hello.GetListenAddr()
	if addr == "" {
		addr = remote
	}
	c := &conn{t: t, nc: nc, peer: hello.GetNodeId(), addr: addr, dialer: hello.GetNodeId(), tag: tag,
		out: make(chan []byte, 256), done: make(chan struct{})}
	if la := hello.GetListenAddr(); la != "" {
		// The peer's listen address may be one this node dials: knowing
		// whose it is stops the dialer from redialing a linked peer and
		// lets WaitForPeers count the link.
		t.mu.Lock()
		t.addrPeer[la] = c.peer
		t.mu.Unlock()
	}
	if ok, why := t.register(c); !ok {
		t.log.Debug("inbound link not kept", "peer", c.peer, "reason", why)
		_ = t.writeFrame(nc, wire.TagBinary, refusal(&wirepb.Error{Kind: &wirepb.Error_RateLimited{RateLimited: &wirepb.RateLimited{RetryAfterMs: 1000}}}))
		_ = nc.Close()
		return
	}
	format := wirepb.Format_FORMAT_BINARY
	if tag == wire.TagJSON {
		format = wirepb.Format_FORMAT_JSON
	}
	ack := &wirepb.Frame{Msg: &wirepb.Frame_HelloAck{HelloAck: &wirepb.HelloAck{
		NodeId: t.cfg.NodeID, ProtocolVersion: wire.ProtocolVersion, ChosenFormat: format, Vv: t.cfg.VV()}}}
	if err := t.writeFrame(nc, tag, ack); err != nil {
		t.unregister(c)
		c.close("handshake write failed")
		return
	}
	t.run(c, br)
}

// run starts a registered link's reader and writer and tells the handler.
func (t *Transport) run(c *conn, br *bufio.Reader) {
	t.connects.Add(1)
	t.log.Info("peer connected", "peer", c.peer, "addr", c.addr, "dialed_by_us", c.dialer == t.cfg.NodeID)
	t.wg.Add(2)
	go func() {
		defer t.wg.Done()
		t.writeLoop(c)
	}()
	go func() {
		defer t.wg.Done()
		t.readLoop(c, br)
		was := t.unregister(c)
		c.close("read loop ended")
		t.disconnects.Add(1)
		t.log.Info("peer disconnected", "peer", c.peer, "reason", c.why)
		if h := t.getHandler(); h != nil && was && !t.replacedBy(c.peer) {
			h.PeerDown(c.peer)
		}
	}()
	if h := t.getHandler(); h != nil {
		h.PeerUp(c.peer)
	}
}

func (t *Transport) getHandler() Handler {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.handler
}

func (t *Transport) writeLoop(c *conn) {
	ping := time.NewTicker(t.cfg.SocketTimeout / 3)
	defer ping.Stop()
	var nonce uint64
	for {
		select {
		case b := <-c.out:
			_ = c.nc.SetWriteDeadline(time.Now().Add(t.cfg.SocketTimeout))
			if _, err := c.nc.Write(b); err != nil {
				c.close("write failed: " + err.Error())
				return
			}
			t.bytesOut.Add(uint64(len(b)))
			ping.Reset(t.cfg.SocketTimeout / 3)
		case <-ping.C:
			nonce++
			b, _ := wire.EncodeFrame(&wirepb.Frame{Msg: &wirepb.Frame_Ping{Ping: &wirepb.Ping{Nonce: nonce}}}, c.tag)
			_ = c.nc.SetWriteDeadline(time.Now().Add(t.cfg.SocketTimeout))
			if _, err := c.nc.Write(b); err != nil {
				c.close("keepalive write failed: " + err.Error())
				return
			}
		case <-c.done:
			return
		}
	}
}

// readLoop dispatches frames until the link fails. A frame that is too
// large, has an unknown tag or does not decode closes only this link.
func (t *Transport) readLoop(c *conn, br *bufio.Reader) {
	h := t.getHandler() // set by Start, before any link runs
	var buf []byte      // the frame buffer, reused
	for {
		f, m, err := t.readMessage(br, c.nc, &buf)
		if err != nil {
			select {
			case <-c.done:
				return
			default:
			}
			lvl := slog.LevelWarn
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				lvl = slog.LevelDebug
			} else {
				t.badFrames.Add(1)
			}
			t.log.Log(t.ctx, lvl, "closing link: bad or failed read", "peer", c.peer, "err", err)
			c.close(err.Error())
			return
		}
		if m == nil {
			switch x := f.Msg.(type) {
			case *wirepb.Frame_Ping:
				_ = c.send(&wirepb.Frame{Msg: &wirepb.Frame_Pong{Pong: &wirepb.Pong{Nonce: x.Ping.GetNonce()}}})
				continue
			case *wirepb.Frame_Pong:
				continue
			case *wirepb.Frame_Error:
				t.log.Error("peer sent an error", "peer", c.peer, "error", describe(x.Error))
				c.close("peer error: " + describe(x.Error))
				return
			}
			var ok bool
			m, ok, err = wire.ToMessage(f)
			if !ok {
				err = fmt.Errorf("unexpected %T after the handshake", f.Msg)
			}
		}
		if err == nil {
			err = h.Handle(c.peer, m)
			if errors.Is(err, replica.ErrClosed) {
				return
			}
		}
		if err != nil {
			t.badFrames.Add(1)
			t.log.Warn("closing link: refused message", "peer", c.peer, "err", err)
			c.close(err.Error())
			return
		}
	}
}

func describe(e *wirepb.Error) string {
	switch k := e.GetKind().(type) {
	case *wirepb.Error_ProtocolMismatch:
		return fmt.Sprintf("ProtocolMismatch{expected %d, got %d}", k.ProtocolMismatch.GetExpected(), k.ProtocolMismatch.GetGot())
	case *wirepb.Error_NotAuthorized:
		return "NotAuthorized{" + k.NotAuthorized.GetReason() + "}"
	case *wirepb.Error_RateLimited:
		return fmt.Sprintf("RateLimited{retry after %d ms}", k.RateLimited.GetRetryAfterMs())
	case *wirepb.Error_Internal:
		return "Internal{" + k.Internal.GetReason() + "}"
	}
	return "unknown error"
}

// isFinal reports refusals that redialing cannot fix.
func isFinal(e *wirepb.Error) bool {
	switch e.GetKind().(type) {
	case *wirepb.Error_ProtocolMismatch, *wirepb.Error_NotAuthorized:
		return true
	}
	return false
}

// isAuthError reports TLS failures caused by the certificates, not the network.
func isAuthError(err error) bool {
	var ce *tls.CertificateVerificationError
	var ae tls.AlertError
	var own *certError
	var op *net.OpError
	// A TLS alert from the peer ("remote error: tls: bad certificate").
	remote := errors.As(err, &op) && op.Op == "remote error"
	return errors.As(err, &ce) || errors.As(err, &ae) || errors.As(err, &own) || remote
}
