// Package transport carries replication messages between nodes over TCP,
// with TLS 1.3 and mutual authentication (or plain TCP when insecure), as
// docs/wire-protocol.md describes: a Hello/HelloAck handshake with version negotiation and
// NodeId checks, one link per pair of nodes, reconnects with exponential
// backoff and jitter, keepalive pings, and per-frame size and time limits.
//
// It implements replica.Transport and hands every replication message it
// receives to a Handler (the replica). It owns its listener, its dialers and
// one reader and one writer goroutine per link; Close stops them all.
package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/numax/numax/internal/abi"
	"github.com/numax/numax/internal/defaults"
	"github.com/numax/numax/internal/replica"
	"github.com/numax/numax/internal/wire"
	"github.com/numax/numax/internal/wire/wirepb"
)

// Handler receives what arrives: replication messages and link events.
// PeerUp is called once a link is up, PeerDown once that link is gone (not
// when a duplicate link to the same peer is closed).
type Handler interface {
	Handle(peer string, m *replica.Message) error
	PeerUp(peer string)
	PeerDown(peer string)
}

// Config configures a Transport.
type Config struct {
	// NodeID is this node's identity (with TLS, Identity.NodeID).
	NodeID string
	// Listen is the address to accept peers on ("" = dial only).
	Listen string
	// Peers are addresses to dial.
	Peers []string
	// TLS is the node's TLS identity; nil means plain TCP (insecure).
	TLS *Identity
	// Trust, if set, is the swappable identity and allowlist to use (it
	// must hold TLS and AllowedPeers); otherwise one is made from them.
	Trust *Trust
	// AllowedPeers, if not empty, are the only NodeIds accepted.
	AllowedPeers []string
	// Debug sends JSON frames instead of binary.
	Debug bool
	// MaxMessageSize bounds a frame.
	MaxMessageSize int
	// SocketTimeout bounds every read and write; an idle link is pinged
	// every third of it.
	SocketTimeout time.Duration
	// ReconnectInitial and ReconnectMax bound the redial backoff.
	ReconnectInitial, ReconnectMax time.Duration
	// PeerDeadAfter is how many failed dials in a row make a peer dead.
	PeerDeadAfter int
	// MaxPeers bounds the links.
	MaxPeers int
	// VV returns the version vector to put in Hello and HelloAck.
	VV func() map[string]uint64
	// Logger receives the transport's lines.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults of docs/wire-protocol.md and the whitepaper.
func DefaultConfig() Config {
	return Config{
		MaxMessageSize: defaults.MaxMessageSize, SocketTimeout: defaults.SocketTimeout,
		ReconnectInitial: defaults.ReconnectInitial, ReconnectMax: defaults.ReconnectMax,
		PeerDeadAfter: defaults.PeerDeadAfter, MaxPeers: defaults.MaxPeers,
	}
}

// Health is a dialed peer's state.
type Health int

const (
	Healthy Health = iota
	Suspect
	Dead
	Refused // refused by identity or version: never redialed
)

func (h Health) String() string {
	return [...]string{"healthy", "suspect", "dead", "refused"}[h]
}

// Transport is a node's links to its peers.
type Transport struct {
	cfg Config
	log *slog.Logger
	ln  net.Listener
	// trust is the TLS identity and allowlist (nil without TLS); allowed is
	// the allowlist when there is no TLS.
	trust   *Trust
	allowed map[string]bool
	tag     byte

	// mu guards conns, health, addrPeer, handler, dialers, closed and
	// changed (the channel is replaced under mu).
	mu       sync.Mutex
	conns    map[string]*conn  // by peer NodeId
	health   map[string]Health // by dialed address
	addrPeer map[string]string // dialed address -> NodeId learned
	// dialing holds, by address, the dial under way: closed when it ends
	// (its link registered or not).
	dialing map[string]chan struct{}
	handler Handler
	dialers map[string]context.CancelFunc // by address: the running dial loops
	closed  bool
	changed chan struct{} // closed and replaced when conns change

	bytesOut, bytesIn atomic.Uint64
	// Counters for metrics.
	connects, disconnects, dialFailures, refusals, badFrames atomic.Uint64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Counters are the link counters for metrics.
type Counters struct {
	Connects, Disconnects, DialFailures, Refusals, BadFrames uint64
}

// Counters returns the link counters.
func (t *Transport) Counters() Counters {
	return Counters{t.connects.Load(), t.disconnects.Load(), t.dialFailures.Load(), t.refusals.Load(), t.badFrames.Load()}
}

// Bytes returns the frame bytes written to and read from peers so far.
func (t *Transport) Bytes() (out, in uint64) { return t.bytesOut.Load(), t.bytesIn.Load() }

// New validates cfg and binds the listener (so a port in use fails here,
// before anything starts). Start begins accepting and dialing.
func New(cfg Config) (*Transport, error) {
	d := DefaultConfig()
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = d.MaxMessageSize
	}
	if cfg.SocketTimeout <= 0 {
		cfg.SocketTimeout = d.SocketTimeout
	}
	if cfg.ReconnectInitial <= 0 {
		cfg.ReconnectInitial = d.ReconnectInitial
	}
	if cfg.ReconnectMax < cfg.ReconnectInitial {
		cfg.ReconnectMax = max(d.ReconnectMax, cfg.ReconnectInitial)
	}
	if cfg.PeerDeadAfter <= 0 {
		cfg.PeerDeadAfter = d.PeerDeadAfter
	}
	if cfg.MaxPeers <= 0 {
		cfg.MaxPeers = d.MaxPeers
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.VV == nil {
		cfg.VV = func() map[string]uint64 { return nil }
	}
	if !abi.ValidNodeID(cfg.NodeID) {
		return nil, fmt.Errorf("transport: NodeID %q is not 32 lowercase hex characters", cfg.NodeID)
	}
	if cfg.TLS != nil && cfg.TLS.NodeID != cfg.NodeID {
		return nil, fmt.Errorf("transport: NodeID %s differs from the certificate's %s", cfg.NodeID, cfg.TLS.NodeID)
	}
	t := &Transport{
		cfg: cfg, log: cfg.Logger, allowed: map[string]bool{}, tag: wire.TagBinary,
		conns: map[string]*conn{}, health: map[string]Health{}, addrPeer: map[string]string{}, dialing: map[string]chan struct{}{},
		dialers: map[string]context.CancelFunc{}, changed: make(chan struct{}),
	}
	if cfg.Debug {
		t.tag = wire.TagJSON
	}
	for _, id := range cfg.AllowedPeers {
		if !abi.ValidNodeID(id) {
			return nil, fmt.Errorf("transport: allowed peer %q is not a NodeId", id)
		}
		t.allowed[id] = true
	}
	if cfg.TLS != nil {
		t.trust = cfg.Trust
		if t.trust == nil {
			t.trust = NewTrust(cfg.TLS, cfg.AllowedPeers)
		}
	}
	if cfg.Listen != "" {
		ln, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
		}
		t.ln = ln
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	return t, nil
}

// Reload swaps in a renewed identity (the same NodeId) and a new
// allowlist, and closes the links of peers the new allowlist leaves out;
// other links stay up.
func (t *Transport) Reload(id *Identity, allowed []string) error {
	if t.trust == nil {
		return errors.New("transport: TLS is off; nothing to reload")
	}
	if err := t.trust.Set(id, allowed); err != nil {
		return err
	}
	t.mu.Lock()
	var gone []*conn
	for peer, c := range t.conns {
		if !t.PeerAllowed(peer) {
			gone = append(gone, c)
		}
	}
	t.mu.Unlock()
	for _, c := range gone {
		t.log.Warn("closing link: peer no longer in allowed_peers", "peer", c.peer)
		c.close("no longer in allowed_peers")
	}
	return nil
}

// PeerAllowed reports whether nodeID may link (and, for the replica, make
// ops): the current allowlist, or any NodeId without one.
func (t *Transport) PeerAllowed(nodeID string) bool {
	if t.trust != nil {
		return t.trust.Allowed(nodeID)
	}
	return len(t.allowed) == 0 || t.allowed[nodeID]
}

// Trust is the link's identity and allowlist (nil without TLS).
func (t *Transport) Trust() *Trust { return t.trust }

// Addr returns the bound listen address (nil without one).
func (t *Transport) Addr() net.Addr {
	if t.ln == nil {
		return nil
	}
	return t.ln.Addr()
}

// Start accepts peers and dials the configured ones, handing what arrives to h.
func (t *Transport) Start(h Handler) {
	t.mu.Lock()
	t.handler = h
	t.mu.Unlock()
	if t.cfg.TLS == nil {
		t.log.Warn("TLS is off (--tls-insecure): links are plain TCP, unauthenticated and unencrypted; for local development only")
	}
	if t.ln != nil {
		t.wg.Add(1)
		go t.acceptLoop()
	}
	t.SetPeers(t.cfg.Peers)
}

// SetPeers replaces the set of addresses this node dials (discovery calls
// it as members come and go). New addresses are dialed at once; for a
// removed one the dial loop stops and a link this node dialed to it is
// closed (a link the peer dialed stays: that is the peer's choice).
func (t *Transport) SetPeers(addrs []string) {
	want := map[string]bool{}
	for _, a := range addrs {
		want[a] = true
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	var drop []*conn
	for addr, stop := range t.dialers {
		if want[addr] {
			continue
		}
		stop()
		delete(t.dialers, addr)
		delete(t.health, addr)
		if id, ok := t.addrPeer[addr]; ok {
			if c := t.conns[id]; c != nil && c.dialer == t.cfg.NodeID && c.addr == addr {
				drop = append(drop, c)
			}
		}
	}
	for _, addr := range slices.Sorted(maps.Keys(want)) {
		if t.dialers[addr] != nil {
			continue
		}
		ctx, stop := context.WithCancel(t.ctx)
		t.dialers[addr] = stop
		t.wg.Add(1)
		go t.dialLoop(ctx, addr)
	}
	t.notifyChanged()
	t.mu.Unlock()
	for _, c := range drop {
		c.close("no longer a chosen peer")
	}
}

// Dialing returns the addresses this node dials, sorted.
func (t *Transport) Dialing() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Sorted(maps.Keys(t.dialers))
}

// WaitForAnyPeer blocks until at least one peer is connected or ctx ends.
func (t *Transport) WaitForAnyPeer(ctx context.Context) {
	for {
		t.mu.Lock()
		n, ch := len(t.conns), t.changed
		t.mu.Unlock()
		if n > 0 {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}

// Peers returns the connected peers' NodeIds, sorted.
func (t *Transport) Peers() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	ids := make([]string, 0, len(t.conns))
	for id := range t.conns {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// PeerInfo returns the connected peers with their addresses, sorted by NodeId.
func (t *Transport) PeerInfo() []abi.Peer {
	t.mu.Lock()
	defer t.mu.Unlock()
	ps := make([]abi.Peer, 0, len(t.conns))
	for id, c := range t.conns {
		ps = append(ps, abi.Peer{Addr: c.addr, NodeID: id})
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].NodeID < ps[j].NodeID })
	return ps
}

// HealthOf returns the state of each dialed address.
func (t *Transport) HealthOf() map[string]Health {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := make(map[string]Health, len(t.health))
	for a, h := range t.health {
		m[a] = h
	}
	return m
}

// WaitForPeers blocks until every dialed address is connected or refused,
// or ctx ends.
func (t *Transport) WaitForPeers(ctx context.Context) {
	for {
		t.mu.Lock()
		done := true
		for a := range t.dialers {
			id, known := t.addrPeer[a]
			if t.health[a] == Refused {
				continue
			}
			if !known || t.conns[id] == nil {
				done = false
			}
		}
		ch := t.changed
		t.mu.Unlock()
		if done {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}

// Send queues m for peer. It fails if the peer is not connected or stays
// too slow to take it for a socket timeout (the link is then dropped).
func (t *Transport) Send(peer string, m *replica.Message) error {
	t.mu.Lock()
	c := t.conns[peer]
	t.mu.Unlock()
	if c == nil {
		return fmt.Errorf("transport: %s is not connected", peer)
	}
	if m.Kind == replica.PushOps && c.tag == wire.TagBinary {
		b, err := wire.AppendPushFrame(nil, m)
		if err != nil {
			return err
		}
		return c.sendFrame(b)
	}
	f := wire.FromMessage(m)
	if f == nil {
		return fmt.Errorf("transport: cannot encode %s", m.Kind)
	}
	return c.send(f)
}

// Close stops listening and dialing and closes every link. A second Close
// returns net.ErrClosed.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return net.ErrClosed
	}
	t.closed = true
	conns := make([]*conn, 0, len(t.conns))
	for _, c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	t.cancel()
	if t.ln != nil {
		_ = t.ln.Close()
	}
	for _, c := range conns {
		c.close("node shutting down")
	}
	t.wg.Wait()
	return nil
}

func (t *Transport) notifyChanged() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// register adds a handshaken link. With a link to the same peer already up,
// both ends keep the one dialed by the smaller NodeId and close the other.
func (t *Transport) register(c *conn) (ok bool, reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false, "shutting down"
	}
	keeper := min(t.cfg.NodeID, c.peer)
	if old := t.conns[c.peer]; old != nil {
		if old.dialer == keeper || c.dialer != keeper {
			return false, "duplicate link (kept the one dialed by the smaller NodeId)"
		}
		go old.close("replaced by the link dialed by the smaller NodeId")
		delete(t.conns, c.peer)
	} else if len(t.conns) >= t.cfg.MaxPeers {
		return false, fmt.Sprintf("max_peers (%d) reached", t.cfg.MaxPeers)
	}
	t.conns[c.peer] = c
	t.notifyChanged()
	return true, ""
}

// replacedBy waits for the dials under way to the addresses known as
// peer's and reports whether one of them (or anything meanwhile) linked
// the peer again. A link registered here can be closed by its dialer
// while the link this node dials, the one both ends keep, is still in its
// handshake: the peer is not lost then, and PeerDown would be a false
// alarm.
func (t *Transport) replacedBy(peer string) bool {
	t.mu.Lock()
	var waits []chan struct{}
	for addr, id := range t.addrPeer {
		if ch := t.dialing[addr]; id == peer && ch != nil {
			waits = append(waits, ch)
		}
	}
	t.mu.Unlock()
	for _, ch := range waits {
		<-ch // a dial ends: its deadlines are the socket timeout
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.conns[peer] != nil
}

// unregister forgets c, and reports whether it was the peer's link.
func (t *Transport) unregister(c *conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conns[c.peer] == c {
		delete(t.conns, c.peer)
		t.notifyChanged()
		return true
	}
	return false
}

func (t *Transport) setHealth(addr string, h Health) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.health[addr] != h {
		t.health[addr] = h
		t.notifyChanged()
	}
}

// backoff returns the delay before redial attempt n (1-based): exponential
// from ReconnectInitial to ReconnectMax, with up to 50% jitter.
func (t *Transport) backoff(n int) time.Duration {
	d := t.cfg.ReconnectInitial
	for i := 1; i < n && d < t.cfg.ReconnectMax; i++ {
		d *= 2
	}
	d = min(d, t.cfg.ReconnectMax)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func (t *Transport) dialLoop(ctx context.Context, addr string) {
	defer t.wg.Done()
	failures := 0
	for {
		// While the peer behind addr is linked (by either side), wait.
		t.mu.Lock()
		var up *conn
		if id, ok := t.addrPeer[addr]; ok {
			up = t.conns[id]
		}
		t.mu.Unlock()
		if up != nil {
			select {
			case <-up.done:
				continue
			case <-ctx.Done():
				return
			}
		}
		c, refused, err := t.dial(ctx, addr)
		switch {
		case errors.Is(err, errNotKept):
			failures = 0
			t.setHealth(addr, Healthy)
			continue
		case errors.Is(err, errSlotsFull):
			// Not the peer's fault: wait a backoff period for a free slot.
			t.log.Debug("no free peer slot; will retry", "addr", addr)
		case refused:
			t.refusals.Add(1)
			t.setHealth(addr, Refused)
			t.log.Error("peer refused for good; not redialing", "addr", addr, "err", err)
			return
		case err != nil:
			t.dialFailures.Add(1)
			failures++
			h := Suspect
			if failures >= t.cfg.PeerDeadAfter {
				h = Dead
			}
			t.setHealth(addr, h)
			lvl := slog.LevelDebug
			if failures == t.cfg.PeerDeadAfter {
				lvl = slog.LevelWarn
			}
			t.log.Log(ctx, lvl, "dial failed", "addr", addr, "failures", failures, "health", h.String(), "err", err)
		default:
			failures = 0
			t.setHealth(addr, Healthy)
			select {
			case <-c.done:
			case <-ctx.Done():
				return
			}
		}
		select {
		case <-time.After(t.backoff(max(failures, 1))):
		case <-ctx.Done():
			return
		}
	}
}

func (t *Transport) acceptLoop() {
	defer t.wg.Done()
	AcceptLoop(t.ln, t.ctx.Done(), &t.wg, t.log, "accept failed", t.accept)
}

// AcceptLoop accepts connections on ln until done is closed, handling each
// on its own goroutine counted in wg. A failed Accept is logged as msg and
// retried after 100 ms (at once after a timeout). Shared by the op links
// and the gossip transport.
func AcceptLoop(ln net.Listener, done <-chan struct{}, wg *sync.WaitGroup, log *slog.Logger, msg string, handle func(net.Conn)) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			select {
			case <-done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			log.Error(msg, "err", err)
			select {
			case <-time.After(100 * time.Millisecond):
			case <-done:
				return
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			handle(nc)
		}()
	}
}

// refusal builds an Error frame.
func refusal(e *wirepb.Error) *wirepb.Frame { return &wirepb.Frame{Msg: &wirepb.Frame_Error{Error: e}} }

func notAuthorized(reason string) *wirepb.Frame {
	return refusal(&wirepb.Error{Kind: &wirepb.Error_NotAuthorized{NotAuthorized: &wirepb.NotAuthorized{Reason: reason}}})
}
