package numax

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/numax/numax/internal/abi"
	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/engine"
	"github.com/numax/numax/internal/hostapi"
	"github.com/numax/numax/internal/obs"
	"github.com/numax/numax/internal/replica"
	"github.com/numax/numax/internal/store"
	"github.com/numax/numax/internal/transport"
)

// SyncMode is the durability of writes; see Config.Sync.
type SyncMode = store.SyncMode

// Durability modes.
const (
	SyncInterval = store.SyncInterval
	SyncAlways   = store.SyncAlways
)

// Limits are the guest-facing limits of host-abi.md.
type Limits = abi.Limits

// Config configures a Node. Start from DefaultConfig.
type Config struct {
	// DatastorePath is the node's data directory.
	DatastorePath string
	// Sync is the durability mode: SyncInterval (default) acknowledges
	// writes at once and fsyncs within SyncInterval; SyncAlways
	// acknowledges after the fsync.
	Sync         SyncMode
	SyncInterval time.Duration
	// CompileCache is where compiled modules are kept across runs; "" keeps
	// them in memory only.
	CompileCache string
	// GuestMemory caps a guest's linear memory in bytes.
	GuestMemory uint64
	// GuestTimeout bounds one invocation; 0 disables the limit.
	GuestTimeout time.Duration
	// Limits are the host API limits.
	Limits Limits
	// Stdout and Stderr receive the guest's WASI output.
	Stdout, Stderr io.Writer
	// Logger receives the node's and the guest's log lines.
	Logger *slog.Logger
	// LookupEnv backs env_get (os.LookupEnv if nil).
	LookupEnv func(string) (string, bool)

	// Replicate turns sync on: the crdt_* and net_* host functions work
	// and the node keeps a replicated state (package replica). Without it
	// they answer ERR_SYNC_DISABLED.
	Replicate bool
	// Replica configures replication (limits, anti-entropy, transport).
	// Its Store and Logger are filled in by Open.
	Replica replica.Config
	// ShutdownTimeout bounds how long Close waits to send queued ops.
	ShutdownTimeout time.Duration
	// Network connects the node to peers; a Listen address turns sync on.
	Network Network
	// ObservabilityListen, if set, serves /health, /ready and /metrics.
	ObservabilityListen string
	// ObservabilityTimeout bounds one request to that endpoint.
	ObservabilityTimeout time.Duration
}

// Network is how a node reaches its peers (wire.md).
type Network struct {
	// Listen is the address peers connect to; it enables sync.
	Listen string
	// Peers are addresses to dial.
	Peers []string
	// TLSCert, TLSKey and TLSCA are the node's certificate, key and the
	// cluster CA (PEM files). NodeId comes from the certificate's key.
	TLSCert, TLSKey, TLSCA string
	// AllowedPeers, if set, are the only NodeIds accepted.
	AllowedPeers []string
	// Insecure runs plain TCP without TLS (local development only).
	Insecure bool
	// AdoptIdentity lets this node take over a datastore written under
	// another NodeId.
	AdoptIdentity bool
	// Debug sends JSON frames instead of binary.
	Debug bool
	// Discovery is DiscoveryStatic (Peers; the default), DiscoveryGossip
	// (memberlist on GossipListen, joined through Seeds) or DiscoveryFile
	// (PeersFile, re-read on change).
	Discovery    string
	GossipListen string
	Seeds        []string
	PeersFile    string
	// Fanout is K, the peers each batch of new ops goes to (0 = ceil(log2
	// N) + 1); Links, how many members gossip mode dials (0 = K).
	Fanout, Links int
	// ProbeInterval is the SWIM failure-detection period (0 = 300 ms).
	ProbeInterval time.Duration
	// PullInterval is how often one random peer is asked for what this
	// node lacks (0 = off).
	PullInterval time.Duration
	// Transport limits; zero values take transport.DefaultConfig.
	MaxMessageSize                 int
	SocketTimeout                  time.Duration
	ReconnectInitial, ReconnectMax time.Duration
	PeerDeadAfter, MaxPeers        int
}

// DefaultConfig returns the defaults of the spec: ./nx-data, interval
// durability every 10 ms, 256 MiB guest memory, 30 s per invocation, and a
// compilation cache in the user cache directory.
func DefaultConfig() Config {
	ec := engine.DefaultConfig()
	return Config{
		DatastorePath: "./nx-data",
		Sync:          SyncInterval,
		SyncInterval:  10 * time.Millisecond,
		CompileCache:  DefaultCompileCache(),
		GuestMemory:   ec.MemoryLimit,
		GuestTimeout:  ec.Timeout,
		Limits:        abi.DefaultLimits(),
		Replica:       replica.DefaultConfig(),

		ShutdownTimeout: 30 * time.Second,
	}
}

// DefaultCompileCache returns <user cache dir>/numax/wazero, or "" when the
// platform has no user cache directory.
func DefaultCompileCache() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "numax", "wazero")
}

// Node is a running node: datastore and engine.
type Node struct {
	cfg     Config
	store   *store.Store
	replica *replica.Replica     // nil without sync
	net     *transport.Transport // nil without a network
	disc    *discovery           // nil without a network
	engine  *engine.Engine
	log     *slog.Logger
	metrics *metrics
	obs     *obs.Server // nil without an observability endpoint
	nodeID  string

	// mu guards closed.
	mu     sync.Mutex
	closed bool
}

// ErrClosed is returned by Run and Close after Close.
var ErrClosed = errors.New("numax: node closed")

// Open opens the datastore and starts the engine.
func Open(ctx context.Context, cfg Config) (*Node, error) {
	if err := cfg.Limits.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := newMetrics()
	var srv *obs.Server
	if cfg.ObservabilityListen != "" {
		// Up first, so /ready answers 503 until the node is ready.
		var err error
		if srv, err = obs.Listen(cfg.ObservabilityListen, m.reg, max(cfg.ObservabilityTimeout, time.Second), log); err != nil {
			return nil, err
		}
	}
	node, err := open(ctx, cfg, log, m)
	if err != nil {
		if srv != nil {
			_ = srv.Close(context.WithoutCancel(ctx))
		}
		return nil, err
	}
	node.obs = srv
	m.register(node)
	if srv != nil {
		srv.SetReady(true)
		log.Info("observability endpoint up", "listen", srv.Addr().String())
	}
	return node, nil
}

func open(ctx context.Context, cfg Config, log *slog.Logger, m *metrics) (*Node, error) {
	var ident *transport.Identity
	netw := cfg.Network
	if netw.Listen != "" {
		cfg.Replicate = true
		if !netw.Insecure {
			var err error
			if ident, err = transport.LoadIdentity(netw.TLSCert, netw.TLSKey, netw.TLSCA); err != nil {
				return nil, err
			}
			cfg.Replica.NodeID = ident.NodeID
		}
		cfg.Replica.AdoptIdentity = netw.AdoptIdentity
	}
	sc := store.DefaultConfig(cfg.DatastorePath)
	sc.Sync, sc.SyncInterval, sc.Logger = cfg.Sync, cfg.SyncInterval, log
	st, err := store.Open(sc)
	if err != nil {
		return nil, err
	}
	link := &lateLink{}
	var disc atomic.Pointer[discovery]
	nodeID, err := replica.Identity(st, cfg.Replica.NodeID, cfg.Replica.AdoptIdentity, log)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	log = log.With("node", nodeID) // every line from here on names the node
	host := &hostapi.Host{
		Store: st, Logger: log, Limits: cfg.Limits, LookupEnv: cfg.LookupEnv, Start: time.Now(),
		OnEvent: func(_, name string, _ []byte) { m.event(name) },
	}
	var rep *replica.Replica
	if cfg.Replicate {
		rc := cfg.Replica
		rc.Store, rc.Logger, rc.NodeID = st, log, nodeID
		rc.OnBatchApplied = func(d time.Duration) { m.batchApply.Observe(d.Seconds()) }
		embedder := rc.OnRemoteApply
		rc.OnRemoteApply = func(op *crdt.Op) {
			// The HLC has whole milliseconds: the op was made somewhere in
			// [hlc, hlc+1ms), so the estimate is taken from the middle. A
			// clock behind the origin's reads 0.
			ms := float64(time.Now().UnixMicro())/1000 - float64(crdt.HLCTime(op.HLC)) - 0.5
			m.delay.Observe(max(ms, 0) / 1000)
			if embedder != nil {
				embedder(op)
			}
		}
		if netw.Listen != "" {
			rc.Transport = link
			rc.Fanout = func(connected int) int {
				if d := disc.Load(); d != nil {
					return d.fanoutFor(connected)
				}
				return replica.DefaultFanout(connected + 1)
			}
			rc.RandomPullInterval = netw.PullInterval
		}
		if rep, err = replica.Open(rc); err != nil {
			_ = st.Close()
			return nil, err
		}
		host.Sync = syncHost{rep, link}
	}
	var tr *transport.Transport
	if netw.Listen != "" {
		// transport.New puts its defaults in place of unset (zero) limits.
		tc := transport.Config{
			NodeID: rep.NodeID(), Listen: netw.Listen, Peers: netw.Peers, TLS: ident,
			AllowedPeers: netw.AllowedPeers, Debug: netw.Debug, Logger: log, VV: rep.VV,
			MaxMessageSize: netw.MaxMessageSize, SocketTimeout: netw.SocketTimeout,
			ReconnectInitial: netw.ReconnectInitial, ReconnectMax: netw.ReconnectMax,
			PeerDeadAfter: netw.PeerDeadAfter, MaxPeers: netw.MaxPeers,
		}
		if tr, err = transport.New(tc); err != nil {
			_ = rep.Close(ctx)
			_ = st.Close()
			return nil, err
		}
		link.t.Store(tr)
		tr.Start(rep)
		d, err := startDiscovery(netw, rep.NodeID(), ident, tr, log)
		if err != nil {
			_ = tr.Close()
			_ = rep.Close(ctx)
			_ = st.Close()
			return nil, err
		}
		disc.Store(d)
		log.Info("sync started", "listen", tr.Addr().String(), "discovery", d.mode, "peers", len(netw.Peers), "tls", ident != nil)
	}
	ec := engine.Config{
		CacheDir: cfg.CompileCache, MemoryLimit: cfg.GuestMemory, Timeout: cfg.GuestTimeout,
		Stdout: cfg.Stdout, Stderr: cfg.Stderr, Logger: log,
	}
	eng, err := engine.New(ctx, ec, host)
	if err != nil {
		if d := disc.Load(); d != nil {
			_ = d.Close()
		}
		if rep != nil {
			_ = rep.Close(ctx)
		}
		if tr != nil {
			_ = tr.Close()
		}
		_ = st.Close()
		return nil, err
	}
	return &Node{cfg: cfg, store: st, replica: rep, net: tr, disc: disc.Load(), engine: eng, log: log, metrics: m, nodeID: nodeID}, nil
}

// Registry returns the node's Prometheus registry.
func (n *Node) Registry() *prometheus.Registry { return n.metrics.reg }

// lateLink is the replica's transport, set once the transport exists (the
// transport needs the replica's NodeId first).
type lateLink struct {
	t atomic.Pointer[transport.Transport]
}

func (l *lateLink) Send(peer string, m *replica.Message) error {
	if t := l.t.Load(); t != nil {
		return t.Send(peer, m)
	}
	return errors.New("numax: network not started")
}

func (l *lateLink) Peers() []string {
	if t := l.t.Load(); t != nil {
		return t.Peers()
	}
	return nil
}

// syncHost adapts a replica and its links to the host API's Sync.
type syncHost struct {
	*replica.Replica
	link *lateLink
}

func (s syncHost) Peers() []abi.Peer {
	if t := s.link.t.Load(); t != nil {
		return t.PeerInfo()
	}
	return []abi.Peer{}
}

// Addr returns the address peers connect to (nil without a network).
func (n *Node) Addr() net.Addr {
	if n.net == nil {
		return nil
	}
	return n.net.Addr()
}

// WaitForPeers waits until every dialed peer is connected (or refused) or
// ctx ends; in gossip mode with seeds, until at least one member is linked
// first.
func (n *Node) WaitForPeers(ctx context.Context) {
	if n.net == nil {
		return
	}
	if n.disc != nil && n.disc.ms != nil && len(n.cfg.Network.Seeds) > 0 {
		n.net.WaitForAnyPeer(ctx)
	}
	n.net.WaitForPeers(ctx)
}

// NodeID returns the node's identity (stored in the datastore, or derived
// from the TLS certificate).
func (n *Node) NodeID() string { return n.nodeID }

// Replica returns the node's replicated state, or nil without sync.
func (n *Node) Replica() *replica.Replica { return n.replica }

// Format renders CRDT (t, key) as --print-* prints it, e.g. "visits = 3".
func (n *Node) Format(t crdt.Type, key string) (string, error) {
	if n.replica == nil {
		return "", errors.New("numax: sync is disabled")
	}
	var s string
	n.replica.Read(crdt.ObjKey{Type: t, Key: key}, func(o crdt.Object) { s = crdt.Format(t, key, o) })
	return s, nil
}

// RunOptions identify one invocation.
type RunOptions struct {
	// ID is the module id (module_id, argv[0], the log attribute); use the
	// path as given by the user.
	ID string
	// Args are the guest's arguments after argv[0].
	Args []string
}

// Run compiles wasm (from the cache when possible) and runs it once.
func (n *Node) Run(ctx context.Context, wasm []byte, o RunOptions) error {
	n.mu.Lock()
	closed := n.closed
	n.mu.Unlock()
	if closed {
		return ErrClosed
	}
	m, err := n.engine.Compile(ctx, wasm)
	if err != nil {
		n.metrics.invocation(o.ID, 0, err)
		return err
	}
	defer m.Close(ctx)
	n.metrics.compile.Observe(m.CompileTime.Seconds())
	n.log.Debug("module compiled", "module", o.ID, "entry", m.Entry, "compile_time", m.CompileTime)
	start := time.Now()
	err = n.engine.Run(ctx, m, engine.RunConfig{ID: o.ID, Args: o.Args})
	n.metrics.invocation(o.ID, time.Since(start), err)
	return err
}

// Close stops the engine, then syncs and closes the datastore. A second
// Close returns ErrClosed.
func (n *Node) Close(ctx context.Context) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return ErrClosed
	}
	n.closed = true
	n.mu.Unlock()
	if n.obs != nil {
		n.obs.SetReady(false) // 503 while shutting down
	}
	err := n.engine.Close(ctx)
	if n.disc != nil {
		// Leave the membership at once: the others stop choosing this node.
		err = errors.Join(err, n.disc.Close())
	}
	if n.replica != nil {
		// Drain: queued ops go out before the links close.
		dctx, cancel := context.WithTimeout(ctx, n.cfg.ShutdownTimeout)
		err = errors.Join(err, n.replica.Close(dctx))
		cancel()
	}
	if n.net != nil {
		err = errors.Join(err, n.net.Close())
	}
	if serr := n.store.Close(); serr != nil {
		err = errors.Join(err, fmt.Errorf("close datastore: %w", serr))
	}
	if n.obs != nil {
		err = errors.Join(err, n.obs.Close(ctx))
	}
	return err
}
