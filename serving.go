package numax

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/engine"
	"github.com/numax/numax/internal/serve"
	"github.com/numax/numax/internal/transport"
)

// Serve configures how a node serves a service module (docs/serving.md).
type Serve struct {
	// HTTPListen is the HTTP listener's address ("" = none).
	HTTPListen string
	// TLSCert and TLSKey, both set, make the listener HTTPS.
	TLSCert, TLSKey string
	// Instances is the pool size (0 = the number of CPUs); Queue bounds
	// the requests waiting for an instance (then 503).
	Instances, Queue int
	// TickInterval calls on_tick this often (0 = never).
	TickInterval time.Duration
	// MaxBody bounds a request body (then 413, the guest not called).
	MaxBody int64
	// EventRing is how many events /_nx/events keeps for reconnecting
	// clients.
	EventRing int
	// FetchAllow lists the hosts http_fetch may reach: "host" (any port)
	// or "host:port". Empty refuses every fetch.
	FetchAllow []string
}

func (s Serve) validate() error {
	if s.Instances < 0 || s.Queue < 0 || s.TickInterval < 0 || s.MaxBody < 0 || s.EventRing < 0 {
		return errors.New("numax: Serve settings must not be negative")
	}
	if (s.TLSCert == "") != (s.TLSKey == "") {
		return errors.New("numax: Serve.TLSCert and Serve.TLSKey go together")
	}
	return nil
}

// ErrNotService is returned by Node.Serve for a module that exports no
// handler (a job: use Run).
var ErrNotService = errors.New("numax: the module exports no handler (on_request, on_change, on_tick, on_peer): it is a job")

// MissingHandlersError is returned by Node.Serve when an HTTP listener is
// configured for a module that does not export on_request.
type MissingHandlersError = serve.MissingHandlersError

// servingHooks carry what the node learns (events, changes, peer links) to
// the service being served, if any.
type servingHooks struct {
	srv atomic.Pointer[serve.Server]
}

func (h *servingHooks) event(name string, payload []byte) {
	if s := h.srv.Load(); s != nil {
		s.Publish(name, payload)
	}
}

func (h *servingHooks) changed(keys []crdt.ObjKey) {
	if s := h.srv.Load(); s != nil {
		s.Changed(keys)
	}
}

// peerHandler passes link changes to the replica and to on_peer.
type peerHandler struct {
	transport.Handler
	hooks *servingHooks
	net   *transport.Transport
}

func (p peerHandler) PeerUp(peer string) {
	p.Handler.PeerUp(peer)
	if s := p.hooks.srv.Load(); s != nil {
		s.Peer(true, peer, p.addrOf(peer))
	}
}

func (p peerHandler) PeerDown(peer string) {
	p.Handler.PeerDown(peer)
	if s := p.hooks.srv.Load(); s != nil {
		s.Peer(false, peer, "")
	}
}

func (p peerHandler) addrOf(peer string) string {
	for _, pi := range p.net.PeerInfo() {
		if pi.NodeID == peer {
			return pi.Addr
		}
	}
	return ""
}

// ServeInfo describes a service once it serves.
type ServeInfo struct {
	// HTTPAddr is the HTTP listener's address (nil without one).
	HTTPAddr net.Addr
}

// Serve runs a service module until ctx ends: it fills the instance pool,
// calls init (and run, if exported), starts the triggers and the HTTP
// listener, calls ready (if set), and at the end stops accepting, calls
// shutdown and closes the instances. A module without handlers returns
// ErrNotService before anything runs; one without on_request while an HTTP
// listener is configured returns a *MissingHandlersError.
func (n *Node) Serve(ctx context.Context, wasm []byte, o RunOptions, ready func(ServeInfo)) error {
	if !engine.MayBeService(wasm) && n.cfg.Serve.HTTPListen == "" {
		// A job: not compiled here, so that the Run that follows (nx run
		// tries Serve first) compiles it once.
		return ErrNotService
	}
	ctx, m, end, err := n.begin(ctx, wasm, o)
	if err != nil {
		return err
	}
	defer end()
	if !m.IsService() {
		if n.cfg.Serve.HTTPListen != "" {
			return &MissingHandlersError{Module: o.ID}
		}
		return ErrNotService
	}
	sc := n.cfg.Serve
	srv, err := serve.New(serve.Config{
		HTTPListen: sc.HTTPListen, TLSCert: sc.TLSCert, TLSKey: sc.TLSKey,
		Instances: sc.Instances, Queue: sc.Queue, TickInterval: sc.TickInterval, MaxBody: sc.MaxBody,
		EventRing: sc.EventRing, Logger: n.log, Registry: n.metrics.reg,
	}, n.engine, m, engine.RunConfig{ID: o.ID, Args: o.Args})
	if err != nil {
		return err
	}
	if !n.hooks.srv.CompareAndSwap(nil, srv) {
		return errors.New("numax: the node is already serving a module")
	}
	defer n.hooks.srv.Store(nil)
	if n.net != nil {
		// Links that came up before serving began are reported as up
		// (a link that comes up meanwhile may be reported twice).
		for _, p := range n.net.PeerInfo() {
			srv.Peer(true, p.NodeID, p.Addr)
		}
	}
	closeSrv := func() error { return srv.Close(context.WithoutCancel(ctx)) }
	if err := srv.Start(ctx); err != nil {
		_ = closeSrv()
		return fmt.Errorf("%s: %w", o.ID, err)
	}
	n.log.Info("service started", "module", o.ID, "handlers", handlerList(m))
	if ready != nil {
		ready(ServeInfo{HTTPAddr: srv.Addr()})
	}
	<-ctx.Done()
	n.log.Info("service stopping", "module", o.ID)
	return closeSrv()
}

func handlerList(m *engine.Module) []string {
	var hs []string
	for _, h := range engine.ServiceExports {
		if m.Exports[h] {
			hs = append(hs, h)
		}
	}
	return hs
}
