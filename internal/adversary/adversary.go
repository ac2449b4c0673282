// Package adversary is a hostile peer for tests: it holds a valid (and, if
// the victim has an allowlist, allowlisted) certificate and speaks the wire
// protocol, but sends what an honest node never would. It is test support
// and is never linked into nx.
package adversary

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/opauth"
	"github.com/numax/numax/internal/transport"
	"github.com/numax/numax/internal/wire"
	"github.com/numax/numax/internal/wire/wirepb"
)

// Peer is one authenticated link to a victim.
type Peer struct {
	ID   *transport.Identity
	conn net.Conn
	r    *bufio.Reader
}

// Dial links to the victim at addr as id and completes the Hello exchange,
// waiting as told when the victim answers RateLimited (it does to a peer
// that reconnects quickly), at most 10 times.
func Dial(addr string, id *transport.Identity) (*Peer, error) {
	for range 10 {
		p, wait, err := dial(addr, id)
		if wait == 0 {
			return p, err
		}
		time.Sleep(wait)
	}
	return nil, errors.New("still rate-limited after 10 tries")
}

func dial(addr string, id *transport.Identity) (*Peer, time.Duration, error) {
	p, err := dialOnce(addr, id)
	var rl *rateLimited
	if errors.As(err, &rl) {
		return nil, rl.wait, err
	}
	return p, 0, err
}

type rateLimited struct{ wait time.Duration }

func (r *rateLimited) Error() string { return fmt.Sprintf("rate-limited; retry after %s", r.wait) }

func dialOnce(addr string, id *transport.Identity) (*Peer, error) {
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(nc, id.ClientConfig())
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		nc.Close()
		return nil, err
	}
	p := &Peer{ID: id, conn: tc, r: bufio.NewReader(tc)}
	hello := &wirepb.Frame{Msg: &wirepb.Frame_Hello{Hello: &wirepb.Hello{NodeId: id.NodeID, ProtocolVersion: wire.ProtocolVersion,
		SupportedFormats: []wirepb.Format{wirepb.Format_FORMAT_BINARY}, PreferredFormat: wirepb.Format_FORMAT_BINARY}}}
	if err := p.SendFrame(hello); err != nil {
		p.Close()
		return nil, err
	}
	f, err := p.Read()
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("no HelloAck: %w", err)
	}
	if e, ok := f.Msg.(*wirepb.Frame_Error); ok && e.Error.GetRateLimited() != nil {
		p.Close()
		return nil, &rateLimited{wait: time.Duration(e.Error.GetRateLimited().GetRetryAfterMs()) * time.Millisecond}
	}
	if _, ok := f.Msg.(*wirepb.Frame_HelloAck); !ok {
		p.Close()
		return nil, fmt.Errorf("answered %v instead of HelloAck", f)
	}
	_ = tc.SetDeadline(time.Time{})
	return p, nil
}

// Send sends one replication message.
func (p *Peer) Send(m *wire.Message) error { return p.SendFrame(wire.FromMessage(m)) }

// SendFrame sends a frame as is.
func (p *Peer) SendFrame(f *wirepb.Frame) error {
	b, err := wire.EncodeFrame(f, wire.TagBinary)
	if err != nil {
		return err
	}
	_, err = p.conn.Write(b)
	return err
}

// Raw writes bytes on the link (a forged length, garbage).
func (p *Peer) Raw(b []byte) error {
	_, err := p.conn.Write(b)
	return err
}

// Read reads the next frame (10 s at most).
func (p *Peer) Read() (*wirepb.Frame, error) {
	_ = p.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	tag, payload, err := wire.ReadFrame(p.r, 64<<20)
	if err != nil {
		return nil, err
	}
	return wire.Unmarshal(tag, payload)
}

// ReadFor reads the frames the victim sends for d; an error other than the
// deadline (the link closed) ends it early and is returned.
func (p *Peer) ReadFor(d time.Duration) ([]*wirepb.Frame, error) {
	_ = p.conn.SetReadDeadline(time.Now().Add(d))
	var out []*wirepb.Frame
	for {
		tag, payload, err := wire.ReadFrame(p.r, 64<<20)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		f, err := wire.Unmarshal(tag, payload)
		if err != nil {
			return out, err
		}
		out = append(out, f)
	}
}

// Closed reports whether the victim has closed the link, reading (and
// discarding) what it sends for at most d.
func (p *Peer) Closed(d time.Duration) bool {
	_ = p.conn.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, p.r)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// Close closes the link.
func (p *Peer) Close() error { return p.conn.Close() }

// Origin makes PushOps as an origin does: ops numbered on from the last,
// the hash chain over them and a head signed with a key (package opauth).
// Made with a key that is not the origin's, its heads are forgeries.
type Origin struct {
	id    string
	cert  []byte
	s     *opauth.Signer
	seq   uint64
	chain opauth.Hash
	c     opauth.Chainer
}

// NewOrigin signs as origin with id's key and certificate (origin = "" is
// id's own NodeId).
func NewOrigin(id *transport.Identity, origin string) (*Origin, error) {
	s, err := opauth.NewSigner(id.Cert.PrivateKey)
	if err != nil {
		return nil, err
	}
	if origin == "" {
		origin = id.NodeID
	}
	return &Origin{id: origin, cert: id.Cert.Certificate[0], s: s, chain: opauth.Genesis(origin)}, nil
}

// Push numbers ops as the origin's next, and returns them in a PushOps with
// the signed head and the certificate.
func (o *Origin) Push(ops ...*crdt.Op) *wire.Message {
	for _, op := range ops {
		o.seq++
		op.Origin, op.Seq = o.id, o.seq
		o.chain = o.c.Next(o.chain, op)
	}
	h := &opauth.Head{Origin: o.id, Seq: o.seq, Chain: o.chain}
	if err := o.s.Sign(h); err != nil {
		panic("adversary: sign: " + err.Error())
	}
	return &wire.Message{Kind: wire.PushOps, Ops: ops, Heads: []*opauth.Head{h}, Certs: [][]byte{o.cert}}
}
