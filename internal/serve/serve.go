package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/numax/numax/internal/abi"
	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/defaults"
	"github.com/numax/numax/internal/engine"
	"github.com/numax/numax/internal/hostapi"
)

var errClosed = errors.New("serve: server closed")

// Config configures a Server. Zero values take the defaults below.
type Config struct {
	// HTTPListen is the HTTP listener's address ("" = no listener).
	HTTPListen string
	// TLSCert and TLSKey, both set, serve HTTPS.
	TLSCert, TLSKey string
	// Instances is the pool size (default: the number of CPUs).
	Instances int
	// Queue bounds the requests waiting for an instance (default 1024).
	Queue int
	// TickInterval calls on_tick this often (0 = never).
	TickInterval time.Duration
	// MaxBody bounds a request body (default 1 MiB): over it, 413 and the
	// guest is not called.
	MaxBody int64
	// MaxHeaderBytes bounds the request line and headers (default 64 KiB):
	// over it, 431.
	MaxHeaderBytes int
	// HeaderTimeout bounds reading the request line and headers (default
	// 10 s); a slower client is disconnected.
	HeaderTimeout time.Duration
	// EventRing is how many events /_nx/events keeps for reconnecting
	// clients (default 4096); MaxSSEClients bounds open streams (default
	// 1024, then 503).
	EventRing, MaxSSEClients int
	// Logger receives the server's lines; Registry its metrics.
	Logger   *slog.Logger
	Registry *prometheus.Registry
}

// Defaults of docs/serving.md.
const (
	DefaultQueue          = defaults.ServeQueue
	DefaultMaxBody        = defaults.ServeMaxBody
	DefaultMaxHeaderBytes = 64 << 10
	DefaultHeaderTimeout  = 10 * time.Second
	DefaultEventRing      = defaults.ServeEventRing
	DefaultMaxSSEClients  = 1024
)

func (c *Config) fill() {
	if c.Instances <= 0 {
		c.Instances = runtime.NumCPU()
	}
	if c.Queue <= 0 {
		c.Queue = DefaultQueue
	}
	if c.MaxBody <= 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.HeaderTimeout <= 0 {
		c.HeaderTimeout = DefaultHeaderTimeout
	}
	if c.EventRing <= 0 {
		c.EventRing = DefaultEventRing
	}
	if c.MaxSSEClients <= 0 {
		c.MaxSSEClients = DefaultMaxSSEClients
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// MissingHandlersError is returned for an HTTP listener on a module that
// does not export on_request.
type MissingHandlersError struct{ Module string }

func (e *MissingHandlersError) Error() string {
	return fmt.Sprintf("%s is not a service that answers HTTP: it does not export on_request "+
		"(a service exports at least one of on_request, on_change, on_tick, on_peer; see docs/serving.md)", e.Module)
}

// Server runs one service module.
type Server struct {
	cfg  Config
	log  *slog.Logger
	eng  *engine.Engine
	mod  *engine.Module
	rc   engine.RunConfig
	pool *pool
	m    *metrics

	events     *ring
	sseClients atomic.Int64

	http *http.Server
	ln   net.Listener

	// pendingMu guards pending and peers: changes waiting for on_change
	// (coalesced per object) and peer events waiting for on_peer.
	pendingMu sync.Mutex
	pending   map[crdt.ObjKey]bool
	peers     []abi.PeerEvent
	kick      chan struct{}

	ctx    context.Context // cancelled by Close: stops handlers and the loop
	cancel context.CancelFunc
	done   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
	reqSeq atomic.Uint64
}

// maxPeerEvents bounds the on_peer events waiting; older ones are dropped
// (and logged) past it.
const maxPeerEvents = 1024

// New prepares a server for module m: nothing runs until Start.
func New(cfg Config, eng *engine.Engine, m *engine.Module, rc engine.RunConfig) (*Server, error) {
	cfg.fill()
	if cfg.HTTPListen != "" && !m.Exports[engine.ExportOnRequest] {
		return nil, &MissingHandlersError{Module: rc.ID}
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("serve: tls_cert and tls_key go together")
	}
	s := &Server{
		cfg: cfg, log: cfg.Logger, eng: eng, mod: m, rc: rc,
		events: newRing(cfg.EventRing), pending: map[crdt.ObjKey]bool{},
		kick: make(chan struct{}, 1), done: make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.pool = newPool(cfg.Instances, cfg.Queue, func(ctx context.Context, n int) (*engine.Instance, error) {
		return eng.Instantiate(ctx, m, rc, fmt.Sprintf("#%d", n))
	})
	s.m = newMetrics(cfg.Registry, s)
	return s, nil
}

// Publish sends a guest event to /_nx/events (hostapi.Host.OnEvent).
func (s *Server) Publish(name string, payload []byte) {
	s.events.publish(name, payload)
	s.m.published.Inc()
}

// Changed records objects that changed, for on_change (replica OnChanged).
func (s *Server) Changed(keys []crdt.ObjKey) {
	if !s.mod.Exports[engine.ExportOnChange] {
		return
	}
	s.pendingMu.Lock()
	for _, k := range keys {
		s.pending[k] = true
	}
	s.pendingMu.Unlock()
	s.wake()
}

// Peer records a link coming up or going down, for on_peer.
func (s *Server) Peer(up bool, nodeID, addr string) {
	if !s.mod.Exports[engine.ExportOnPeer] {
		return
	}
	s.pendingMu.Lock()
	if len(s.peers) >= maxPeerEvents {
		s.peers = s.peers[1:]
		s.log.Warn("on_peer is behind: dropped the oldest peer event", "limit", maxPeerEvents)
	}
	s.peers = append(s.peers, abi.PeerEvent{Up: up, NodeID: nodeID, Addr: addr})
	s.pendingMu.Unlock()
	s.wake()
}

func (s *Server) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Start fills the pool, calls init (once) and run (if exported), then
// starts the trigger loop and the HTTP listener. If it fails, Close undoes
// it.
func (s *Server) Start(ctx context.Context) error {
	first, err := s.pool.acquire(ctx, false)
	if err != nil {
		return err
	}
	for _, name := range []string{engine.ExportInit, "run"} {
		if !first.Has(name) || (name == "run" && s.mod.Entry != "run") {
			continue
		}
		if err := s.call(ctx, first, name, &hostapi.Call{Handler: name}); err != nil {
			s.pool.release(ctx, first, true)
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	s.pool.release(ctx, first, false)
	// Fill the rest of the pool now, not on the first requests.
	if err := s.pool.fill(ctx); err != nil {
		return err
	}
	s.wg.Add(1)
	go s.loop()
	if s.cfg.HTTPListen != "" {
		if err := s.listen(); err != nil {
			return err
		}
	}
	return nil
}

// Addr is the HTTP listener's address (nil without one).
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

func (s *Server) listen() error {
	ln, err := net.Listen("tcp", s.cfg.HTTPListen)
	if err != nil {
		return fmt.Errorf("serve: HTTP listen on %s: %w", s.cfg.HTTPListen, err)
	}
	s.http = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.cfg.HeaderTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
	}
	if s.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("serve: HTTPS certificate: %w", err)
		}
		s.http.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, s.http.TLSConfig)
	} else if a, ok := ln.Addr().(*net.TCPAddr); ok && !a.IP.IsLoopback() {
		s.log.Warn("HTTP listener is plain HTTP on a non-loopback address; set [serve] tls_cert and tls_key for HTTPS", "listen", a.String())
	}
	s.ln = ln
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("HTTP server stopped", "err", err)
		}
	}()
	s.log.Info("serving HTTP", "listen", ln.Addr().String(), "instances", s.cfg.Instances, "https", s.cfg.TLSCert != "")
	return nil
}

// call runs one handler on inst with c in its context and counts it.
func (s *Server) call(ctx context.Context, inst *engine.Instance, name string, c *hostapi.Call) error {
	err := inst.Call(hostapi.WithCall(ctx, c), name)
	result := "ok"
	if err != nil {
		result = "error"
		var te *engine.TimeoutError
		if errors.As(err, &te) {
			result = "timeout"
		}
	}
	s.m.handlerCall(name, result)
	return err
}

// Backoff bounds for retrying a failed on_change.
const (
	retryMin = 100 * time.Millisecond
	retryMax = 5 * time.Second
)

// loop calls on_change, on_tick and on_peer one at a time, in order.
func (s *Server) loop() {
	defer s.wg.Done()
	var tick <-chan time.Time
	if s.cfg.TickInterval > 0 && s.mod.Exports[engine.ExportOnTick] {
		t := time.NewTicker(s.cfg.TickInterval)
		defer t.Stop()
		tick = t.C
	}
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	backoff := retryMin
	waitRetry := false
	s.wake() // changes made by init and run
	for {
		select {
		case <-s.done:
			return
		case <-tick:
			s.trigger(engine.ExportOnTick, &hostapi.Call{Handler: engine.ExportOnTick})
			continue
		case <-retry.C:
			waitRetry = false
		case <-s.kick:
			if waitRetry {
				continue // the retry timer delivers them
			}
		}
		for s.ctx.Err() == nil {
			s.pendingMu.Lock()
			peers := s.peers
			s.peers = nil
			s.pendingMu.Unlock()
			for _, p := range peers {
				s.trigger(engine.ExportOnPeer, &hostapi.Call{Handler: engine.ExportOnPeer, Peer: abi.AppendPeerEvent(nil, p)})
			}
			s.pendingMu.Lock()
			var batch map[crdt.ObjKey]bool
			if len(s.pending) > 0 {
				batch, s.pending = s.pending, map[crdt.ObjKey]bool{}
			}
			s.pendingMu.Unlock()
			if batch == nil {
				break
			}
			if s.trigger(engine.ExportOnChange, &hostapi.Call{Handler: engine.ExportOnChange, Changes: encodeChanges(batch)}) {
				backoff = retryMin
				continue
			}
			// At least once: the same changes again (with any new ones)
			// after a back-off.
			s.pendingMu.Lock()
			for k := range batch {
				s.pending[k] = true
			}
			s.pendingMu.Unlock()
			retry.Reset(backoff)
			waitRetry = true
			backoff = min(2*backoff, retryMax)
			break
		}
	}
}

func encodeChanges(batch map[crdt.ObjKey]bool) []byte {
	cs := make([]abi.Change, 0, len(batch))
	for k := range batch {
		cs = append(cs, abi.Change{Type: byte(k.Type), Key: []byte(k.Key)})
	}
	return abi.AppendChanges(nil, cs)
}

// trigger runs one trigger handler; false if it failed (already logged).
func (s *Server) trigger(name string, c *hostapi.Call) bool {
	inst, err := s.pool.acquire(s.ctx, false)
	if err != nil {
		if s.ctx.Err() == nil {
			s.log.Error("handler not called: no instance", "handler", name, "err", err)
		}
		return false
	}
	err = s.call(s.ctx, inst, name, c)
	s.pool.release(s.ctx, inst, err != nil)
	if err != nil {
		if s.ctx.Err() == nil {
			s.log.Error("handler failed; instance replaced", "handler", name, "err", err)
		}
		return false
	}
	return true
}

// Close stops the listener (in-flight requests finish within ctx), stops
// the trigger loop, calls shutdown once, and closes every instance.
func (s *Server) Close(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		close(s.done) // ends event streams and the trigger loop
		if s.http != nil {
			sctx, cancel := context.WithTimeout(ctx, shutdownWait)
			err = s.http.Shutdown(sctx)
			cancel()
			if err != nil {
				_ = s.http.Close()
				err = nil
			}
		}
		s.cancel()
		s.wg.Wait()
		if s.mod.Exports[engine.ExportShutdown] {
			inst, aerr := s.pool.grow(context.WithoutCancel(ctx))
			if aerr == nil && inst == nil {
				select {
				case inst = <-s.pool.idle:
				default:
				}
			}
			if inst != nil {
				s.pool.busy.Add(1)
				if cerr := s.call(context.WithoutCancel(ctx), inst, engine.ExportShutdown, &hostapi.Call{Handler: engine.ExportShutdown}); cerr != nil {
					err = fmt.Errorf("shutdown: %w", cerr)
				}
				s.pool.release(ctx, inst, true)
			}
		}
		s.pool.close(context.WithoutCancel(ctx))
	})
	return err
}

// shutdownWait bounds how long Close waits for in-flight requests.
const shutdownWait = 10 * time.Second
