package numax

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/numax/numax/internal/abi"
	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/defaults"
	"github.com/numax/numax/internal/discovery"
	"github.com/numax/numax/internal/engine"
	"github.com/numax/numax/internal/hostapi"
	"github.com/numax/numax/internal/obs"
	"github.com/numax/numax/internal/opauth"
	"github.com/numax/numax/internal/replica"
	"github.com/numax/numax/internal/status"
	"github.com/numax/numax/internal/store"
	"github.com/numax/numax/internal/transport"
)

// SyncMode is the durability of writes; see Config.Sync.
type SyncMode int

// Durability modes.
const (
	// SyncInterval acknowledges a write at once and fsyncs it within
	// Config.SyncInterval.
	SyncInterval SyncMode = iota
	// SyncAlways acknowledges a write after the fsync that covers it.
	SyncAlways
)

func (m SyncMode) store() (store.SyncMode, error) {
	switch m {
	case SyncInterval:
		return store.SyncInterval, nil
	case SyncAlways:
		return store.SyncAlways, nil
	}
	return 0, fmt.Errorf("numax: unknown sync mode %d", int(m))
}

// Limits are the guest-facing limits of the host ABI (docs/host-abi.md),
// in bytes except MaxScanLimit (rows). Zero is never valid.
type Limits struct {
	// MaxKey bounds keys, CRDT keys, map fields, set elements, scan
	// prefixes and cursors.
	MaxKey uint32
	// MaxValue bounds db, LWW, map and RGA values.
	MaxValue uint32
	// MaxOutput bounds any output buffer a guest passes.
	MaxOutput uint32
	// MaxScanLimit is the largest scan page (the smallest is 1).
	MaxScanLimit uint32
	// MaxLogMessage bounds one log line.
	MaxLogMessage uint32
	// MaxRandom bounds random_bytes output and hash input.
	MaxRandom uint32
	// MaxEventName bounds an event name; MaxEventPayload its payload.
	MaxEventName    uint32
	MaxEventPayload uint32
}

// DefaultLimits returns the ABI's default limits.
func DefaultLimits() Limits { return Limits(abi.DefaultLimits()) }

// Discovery modes (Network.Discovery).
const (
	DiscoveryStatic = "static" // Network.Peers
	DiscoveryGossip = "gossip" // memberlist over the node's TLS identity
	DiscoveryFile   = "file"   // Network.PeersFile, re-read on change
)

// Config configures a Node. Start from DefaultConfig; zero durations and
// limits are not "use the default".
type Config struct {
	// DatastorePath is the node's data directory.
	DatastorePath string
	// Sync is the durability mode, SyncInterval or SyncAlways.
	Sync         SyncMode
	SyncInterval time.Duration
	// MinFreeSpace is the free space (bytes) the datastore's filesystem
	// keeps: below it writes are refused until a quarter more is free.
	MinFreeSpace int64
	// CRDTCache bounds the memory of the LWW-Map and ORSet elements a node
	// holds in memory; the others are read from the datastore on demand.
	CRDTCache int64
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

	// Network connects the node to peers. Its Listen address is the one
	// switch for sync: with it the crdt_* and net_* host functions work and
	// the node replicates; without it they answer ERR_SYNC_DISABLED.
	Network Network
	// QueuedOpsLimit bounds the outbound op queue; OpLogLimit the op log
	// (past it, peers that need older ops get a snapshot).
	QueuedOpsLimit, OpLogLimit int
	// AntiEntropyInterval is how often every peer is asked for what this
	// node lacks (0 = never on a timer).
	AntiEntropyInterval time.Duration
	// MaxClockOffset is how far ahead of this node's clock a remote op's
	// timestamp may be; a later op is held until the clock catches up.
	MaxClockOffset time.Duration
	// MemberExpiry is how long a member unheard from holds tombstone
	// collection back (docs/crdt.md).
	MemberExpiry time.Duration
	// PullAnswerRate bounds, per peer, the bytes per second this node sends
	// in answer to its pulls.
	PullAnswerRate int64
	// ShutdownTimeout bounds how long Close waits to send queued ops.
	ShutdownTimeout time.Duration
	// ObservabilityListen, if set, serves /health, /ready and /metrics.
	ObservabilityListen string
	// ObservabilityTimeout bounds one request to that endpoint.
	ObservabilityTimeout time.Duration
	// ObservabilityToken, if set, is required by the node status page (GET
	// / on that endpoint) and its API (/api/v1/); without it the endpoint
	// must listen on a loopback address.
	ObservabilityToken string
	// Serve configures serving a service module (Node.Serve).
	Serve Serve
}

// Network is how a node reaches its peers (docs/wire-protocol.md).
type Network struct {
	// Listen is the address peers connect to; it turns sync on.
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
	// AcceptDataLoss starts a node whose datastore lost acknowledged
	// writes without waiting for peers to give its ops back: under a new
	// NodeId (with TLS, a new certificate), so that no sequence number of
	// the old one is ever reused.
	AcceptDataLoss bool
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
	// ProbeInterval is the SWIM failure-detection period.
	ProbeInterval time.Duration
	// PullInterval is how often one random peer is asked for what this
	// node lacks (0 = off).
	PullInterval time.Duration
	// Transport limits.
	MaxMessageSize                 int
	SocketTimeout                  time.Duration
	ReconnectInitial, ReconnectMax time.Duration
	PeerDeadAfter, MaxPeers        int
}

// DefaultConfig returns the defaults of docs/configuration.md: ./nx-data,
// interval durability every 10 ms, 256 MiB guest memory, 30 s per
// invocation, a compilation cache in the user cache directory, no network.
// The values come from the one list in internal/defaults, which the file
// configuration (nx config init) shares.
func DefaultConfig() Config {
	return Config{
		DatastorePath: defaults.DatastorePath,
		Sync:          SyncInterval,
		SyncInterval:  defaults.SyncInterval,
		MinFreeSpace:  defaults.MinFreeSpace,
		CRDTCache:     defaults.CRDTCache,
		CompileCache:  DefaultCompileCache(),
		GuestMemory:   defaults.GuestMemory,
		GuestTimeout:  defaults.GuestTimeout,
		Limits:        DefaultLimits(),

		QueuedOpsLimit:       defaults.QueuedOpsLimit,
		OpLogLimit:           defaults.OpLogLimit,
		AntiEntropyInterval:  defaults.AntiEntropyInterval,
		MaxClockOffset:       defaults.MaxClockOffset,
		MemberExpiry:         defaults.MemberExpiry,
		PullAnswerRate:       defaults.PullAnswerRate,
		ShutdownTimeout:      defaults.ShutdownTimeout,
		ObservabilityTimeout: defaults.RequestTimeout,
		Serve:                Serve{Queue: defaults.ServeQueue, MaxBody: defaults.ServeMaxBody, EventRing: defaults.ServeEventRing},
		Network: Network{
			Discovery:      DiscoveryStatic,
			ProbeInterval:  defaults.ProbeInterval,
			PullInterval:   defaults.PullInterval,
			MaxMessageSize: defaults.MaxMessageSize, SocketTimeout: defaults.SocketTimeout,
			ReconnectInitial: defaults.ReconnectInitial, ReconnectMax: defaults.ReconnectMax,
			PeerDeadAfter: defaults.PeerDeadAfter, MaxPeers: defaults.MaxPeers,
		},
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

// Validate reports the first setting that cannot work, before anything is
// opened: Open calls it first.
func (c Config) Validate() error {
	if c.DatastorePath == "" {
		return errors.New("numax: DatastorePath is empty")
	}
	if c.ObservabilityListen != "" && c.ObservabilityToken == "" && !obs.Loopback(c.ObservabilityListen) {
		return fmt.Errorf("numax: ObservabilityListen %q is not a loopback address: set ObservabilityToken (the status page shows the node's data)", c.ObservabilityListen)
	}
	if _, err := c.Sync.store(); err != nil {
		return err
	}
	if c.Sync == SyncInterval && c.SyncInterval <= 0 {
		return fmt.Errorf("numax: SyncInterval must be positive in interval mode, got %s", c.SyncInterval)
	}
	if err := (engine.Config{MemoryLimit: c.GuestMemory, Timeout: c.GuestTimeout}).Check(); err != nil {
		return err
	}
	if err := abi.Limits(c.Limits).Validate(); err != nil {
		return fmt.Errorf("numax: %w", err)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"AntiEntropyInterval", c.AntiEntropyInterval}, {"ShutdownTimeout", c.ShutdownTimeout}, {"ObservabilityTimeout", c.ObservabilityTimeout}} {
		if d.v < 0 {
			return fmt.Errorf("numax: %s must not be negative, got %s", d.name, d.v)
		}
	}
	if c.MaxClockOffset <= 0 || c.PullAnswerRate <= 0 || c.MemberExpiry <= 0 {
		return fmt.Errorf("numax: MaxClockOffset, PullAnswerRate and MemberExpiry must be positive, got %s, %d and %s",
			c.MaxClockOffset, c.PullAnswerRate, c.MemberExpiry)
	}
	if c.QueuedOpsLimit <= 0 || c.OpLogLimit <= 0 {
		return fmt.Errorf("numax: QueuedOpsLimit and OpLogLimit must be positive, got %d and %d", c.QueuedOpsLimit, c.OpLogLimit)
	}
	if err := c.Serve.validate(); err != nil {
		return err
	}
	return c.Network.validate()
}

func (n Network) validate() error {
	if n.Listen == "" {
		switch {
		case len(n.Peers) > 0:
			return errors.New("numax: Network.Peers needs Network.Listen (sync is off without it)")
		case n.Discovery != "" && n.Discovery != DiscoveryStatic:
			return fmt.Errorf("numax: discovery mode %q needs Network.Listen", n.Discovery)
		}
		return nil
	}
	if !n.Insecure && (n.TLSCert == "" || n.TLSKey == "" || n.TLSCA == "") {
		return errors.New("numax: Network.Listen needs TLSCert, TLSKey and TLSCA (or Insecure for local development)")
	}
	if n.MaxMessageSize <= 0 || n.SocketTimeout <= 0 || n.ReconnectInitial <= 0 || n.ReconnectMax < n.ReconnectInitial ||
		n.PeerDeadAfter <= 0 || n.MaxPeers <= 0 || n.PullInterval < 0 {
		return errors.New("numax: network limits must be positive (MaxMessageSize, SocketTimeout, ReconnectInitial <= ReconnectMax, PeerDeadAfter, MaxPeers; PullInterval >= 0)")
	}
	return n.discovery().Validate()
}

func (n Network) discovery() discovery.Config {
	return discovery.Config{Mode: n.Discovery, GossipListen: n.GossipListen, Seeds: n.Seeds, PeersFile: n.PeersFile,
		AllowedPeers: n.AllowedPeers, Fanout: n.Fanout, Links: n.Links, ProbeInterval: n.ProbeInterval}
}

// Node is a running node: datastore, engine and, with a network, its
// replicated state, links and discovery.
type Node struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	nodeID  string
	hooks   servingHooks
	// events are the last guest events, for the status page; started is
	// when Open began.
	events  status.Events
	started time.Time
	// bg counts the node's own background goroutines (watchTLS).
	bg sync.WaitGroup

	// The parts, set as Open builds them; close copes with any prefix.
	obs     *obs.Server // nil without an observability endpoint
	store   *store.Store
	replica *replica.Replica     // nil without sync
	net     *transport.Transport // nil without sync
	disc    *discovery.Discovery // nil without sync
	engine  *engine.Engine

	// stopRuns cancels in-flight Runs when Close begins.
	stopRuns context.CancelFunc
	runCtx   context.Context

	// mu guards closed; runs counts Runs in flight (Add under mu).
	mu     sync.Mutex
	closed bool
	runs   sync.WaitGroup
}

// ErrClosed is returned by Run after Close, and by a second Close.
var ErrClosed = errors.New("numax: node closed")

// Open validates cfg, then opens the datastore, starts sync when
// Network.Listen is set, and starts the engine. On any failure it closes
// what it had started, in the same order as Close.
func Open(ctx context.Context, cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Node{cfg: cfg, log: log, metrics: newMetrics(), started: time.Now()}
	n.runCtx, n.stopRuns = context.WithCancel(context.WithoutCancel(ctx))
	if err := n.open(ctx); err != nil {
		_ = n.close(ctx)
		return nil, err
	}
	n.metrics.register(n.parts())
	if n.obs != nil {
		st := n.store
		n.obs.SetCheck(func() string {
			if why := st.Degraded(); why != "" {
				return "datastore degraded (" + why + "): writes refused"
			}
			return ""
		})
		n.obs.SetReady(true)
		n.log.Info("observability endpoint up", "listen", n.obs.Addr().String())
	}
	return n, nil
}

// open builds the node's parts in order, each one's field set as soon as it
// exists.
func (n *Node) open(ctx context.Context) error {
	cfg, m := n.cfg, n.metrics
	var err error
	if cfg.ObservabilityListen != "" {
		// Up first, so /ready answers 503 until the node is ready.
		page := status.Handler(nodeStatus{n}, &n.events, cfg.ObservabilityToken)
		if n.obs, err = obs.Listen(cfg.ObservabilityListen, m.reg, max(cfg.ObservabilityTimeout, time.Second), n.log, page); err != nil {
			return err
		}
	}
	netw := cfg.Network
	var ident *transport.Identity
	configuredID := ""
	if netw.Listen != "" && !netw.Insecure {
		if ident, err = transport.LoadIdentity(netw.TLSCert, netw.TLSKey, netw.TLSCA); err != nil {
			return err
		}
		configuredID = ident.NodeID
	}
	sc := store.DefaultConfig(cfg.DatastorePath)
	sc.Sync, _ = cfg.Sync.store() // checked by Validate
	sc.SyncInterval, sc.Logger, sc.MinFree = cfg.SyncInterval, n.log, cfg.MinFreeSpace
	if n.store, err = store.Open(sc); err != nil {
		return err
	}
	adopt := netw.AdoptIdentity
	if lost := n.store.LostWrites(); lost != "" {
		if configuredID, adopt, err = n.lostWrites(lost, configuredID, adopt); err != nil {
			return err
		}
	}
	if n.nodeID, err = replica.Identity(n.store, configuredID, adopt, n.log); err != nil {
		return err
	}
	n.log = n.log.With("node", n.nodeID) // every line from here on names the node
	host := &hostapi.Host{
		Store: n.store, Logger: n.log, Limits: abi.Limits(cfg.Limits), LookupEnv: cfg.LookupEnv, Start: time.Now(),
		OnEvent: func(_, name string, payload []byte) {
			m.event(name)
			n.events.Add(name, payload)
			n.hooks.event(name, payload)
		},
		FetchAllow: cfg.Serve.FetchAllow,
	}
	if netw.Listen != "" {
		if err := n.startSync(ident, host); err != nil {
			return err
		}
	}
	ec := engine.Config{
		CacheDir: cfg.CompileCache, MemoryLimit: cfg.GuestMemory, Timeout: cfg.GuestTimeout,
		Stdout: cfg.Stdout, Stderr: cfg.Stderr, Logger: n.log,
	}
	n.engine, err = engine.New(ctx, ec, host)
	return err
}

// startSync opens the replicated state, the links and discovery.
func (n *Node) startSync(ident *transport.Identity, host *hostapi.Host) error {
	cfg, m, netw := n.cfg, n.metrics, n.cfg.Network
	link := &lateLink{}
	rc := replica.DefaultConfig()
	rc.Store, rc.Logger, rc.NodeID, rc.AdoptIdentity = n.store, n.log, n.nodeID, true // Identity above decided
	rc.QueueLimit, rc.OpLogLimit, rc.AntiEntropyInterval = cfg.QueuedOpsLimit, cfg.OpLogLimit, cfg.AntiEntropyInterval
	rc.RandomPullInterval = netw.PullInterval
	rc.MaxClockOffset, rc.ServeRate = cfg.MaxClockOffset, cfg.PullAnswerRate
	rc.MemberExpiry, rc.CRDTCache = cfg.MemberExpiry, cfg.CRDTCache
	rc.MembershipSize = func() int {
		if d := link.disc.Load(); d != nil {
			return d.Members()
		}
		return 1
	}
	rc.MaxKey, rc.MaxValue = int(cfg.Limits.MaxKey), int(cfg.Limits.MaxValue)
	// With an allowlist only its members (and this node) make ops: the
	// links' allowlist, so a reload changes both.
	self := n.nodeID
	rc.AllowedOrigin = func(id string) bool {
		t := link.t.Load()
		return id == self || t == nil || t.PeerAllowed(id)
	}
	rc.OnClockSkew = func(peer string, ahead time.Duration) { m.skew.WithLabelValues(peer).Set(ahead.Seconds()) }
	rc.OnViolation = func(peer, kind string) { m.violations.WithLabelValues(peer, kind).Inc() }
	rc.Transport = link
	rc.OnBatchApplied = func(d time.Duration) { m.batchApply.Observe(d.Seconds()) }
	rc.OnChanged = n.hooks.changed
	rc.OnRemoteApply = func(ops []*crdt.Op) {
		// The HLC has whole milliseconds: the op was made somewhere in
		// [hlc, hlc+1ms), so the estimate is taken from the middle. A
		// clock behind the origin's reads 0. One clock read per batch
		// (they are applied together).
		now := float64(time.Now().UnixMicro()) / 1000
		for _, op := range ops {
			ms := now - float64(crdt.HLCTime(op.HLC)) - 0.5
			m.delay.Observe(max(ms, 0) / 1000)
		}
	}
	var trust *transport.Trust
	if ident != nil {
		// Ops are signed with the certificate's key and every remote op is
		// proved against its origin's certificate (docs/wire-protocol.md).
		trust = transport.NewTrust(ident, netw.AllowedPeers)
		signer, err := opauth.NewSigner(ident.Cert.PrivateKey)
		if err != nil {
			return fmt.Errorf("TLS key: %w", err)
		}
		keys := opauth.NewKeyring(func(c *x509.Certificate) (string, error) { return trust.CheckOrigin(c, self) },
			replica.DefaultMaxOrigins+1)
		if _, _, err := keys.Add(ident.Cert.Certificate[0]); err != nil {
			return fmt.Errorf("TLS certificate: %w", err)
		}
		rc.Auth = &replica.Auth{Signer: signer, Keyring: keys}
	}
	var err error
	if n.replica, err = replica.Open(rc); err != nil {
		return err
	}
	host.Sync = syncHost{n.replica, link}
	tc := transport.Config{
		NodeID: n.nodeID, Listen: netw.Listen, Peers: netw.Peers, TLS: ident, Trust: trust,
		AllowedPeers: netw.AllowedPeers, Debug: netw.Debug, Logger: n.log, VV: n.replica.VV,
		MaxMessageSize: netw.MaxMessageSize, SocketTimeout: netw.SocketTimeout,
		ReconnectInitial: netw.ReconnectInitial, ReconnectMax: netw.ReconnectMax,
		PeerDeadAfter: netw.PeerDeadAfter, MaxPeers: netw.MaxPeers,
	}
	if n.net, err = transport.New(tc); err != nil {
		return err
	}
	link.t.Store(n.net)
	n.net.Start(peerHandler{Handler: n.replica, hooks: &n.hooks, net: n.net})
	if n.disc, err = discovery.Start(netw.discovery(), n.nodeID, ident, n.net, n.log); err != nil {
		return err
	}
	link.disc.Store(n.disc)
	if ident != nil {
		n.warnExpiry(ident.Cert.Leaf.NotAfter)
		trust := n.net.Trust()
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "numax_tls_cert_expiry_seconds",
			Help: "Seconds until this node's certificate expires (a warning is logged from 30 days before)."},
			func() float64 { return time.Until(trust.Expiry()).Seconds() }))
		n.bg.Add(1)
		go n.watchTLS(tlsWatchInterval)
	}
	if ident == nil {
		n.log.Warn("ops are not signed: without TLS (--tls-insecure) any peer can speak for any node; development only")
	}
	n.log.Info("sync started", "listen", n.net.Addr().String(), "discovery", n.disc.Mode(), "peers", len(netw.Peers), "tls", ident != nil)
	return nil
}

// parts are the node's parts as the metrics see them.
func (n *Node) parts() nodeParts {
	p := nodeParts{store: n.store, engine: n.engine}
	if n.replica != nil {
		p.rep = n.replica
	}
	if n.net != nil {
		p.links = n.net
	}
	if n.disc != nil {
		p.disc = n.disc
	}
	return p
}

// Registry returns the node's Prometheus registry.
func (n *Node) Registry() *prometheus.Registry { return n.metrics.reg }

// Addr returns the address peers connect to (nil without a network).
func (n *Node) Addr() net.Addr {
	if n.net == nil {
		return nil
	}
	return n.net.Addr()
}

// WaitForPeers waits until every dialed peer is connected (or refused) or
// ctx ends; in gossip mode with seeds, until at least one member is linked
// first; and, for a datastore that lost acknowledged writes, until the peers
// have given this node's ops back.
func (n *Node) WaitForPeers(ctx context.Context) {
	if n.net == nil {
		return
	}
	if n.disc != nil && n.disc.JoinsThroughSeeds() {
		n.net.WaitForAnyPeer(ctx)
	}
	n.net.WaitForPeers(ctx)
	// A datastore that lost writes takes its own ops back first.
	n.replica.WaitRecovered(ctx)
}

// NodeID returns the node's identity (stored in the datastore, or derived
// from the TLS certificate).
func (n *Node) NodeID() string { return n.nodeID }

// RunOptions identify one invocation.
type RunOptions struct {
	// ID is the module id (module_id, argv[0], the log attribute); use the
	// path as given by the user.
	ID string
	// Args are the guest's arguments after argv[0].
	Args []string
}

// Run compiles wasm (from the cache when possible) and runs it once. It
// returns ErrClosed once Close has begun; a Run in flight when Close begins
// is stopped (with a time limit set; without one it is waited for) before
// Close closes anything.
func (n *Node) Run(ctx context.Context, wasm []byte, o RunOptions) error {
	ctx, m, end, err := n.begin(ctx, wasm, o)
	if err != nil {
		return err
	}
	defer end()
	n.metrics.compile.Observe(m.CompileTime.Seconds())
	n.log.Debug("module compiled", "module", o.ID, "entry", m.Entry, "compile_time", m.CompileTime)
	start := time.Now()
	err = n.engine.Run(ctx, m, engine.RunConfig{ID: o.ID, Args: o.Args})
	n.metrics.invocation(o.ID, time.Since(start), err)
	return err
}

// begin registers an invocation (Run or Serve) so that Close waits for it,
// derives a context Close cancels, and compiles wasm. end undoes it all.
func (n *Node) begin(ctx context.Context, wasm []byte, o RunOptions) (context.Context, *engine.Module, func(), error) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return ctx, nil, nil, ErrClosed
	}
	n.runs.Add(1)
	n.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(n.runCtx, cancel)
	release := func() {
		stop()
		cancel()
		n.runs.Done()
	}
	m, err := n.engine.Compile(ctx, wasm)
	if err != nil {
		n.metrics.invocation(o.ID, 0, err)
		release()
		return ctx, nil, nil, err
	}
	return ctx, m, func() {
		_ = m.Close(context.WithoutCancel(ctx))
		release()
	}, nil
}

// Close stops in-flight Runs, then closes the node in order: engine,
// discovery (leaving the membership), replica (sending queued ops within
// ShutdownTimeout), links, datastore, observability endpoint. A second
// Close does nothing and returns ErrClosed.
func (n *Node) Close(ctx context.Context) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return ErrClosed
	}
	n.closed = true
	n.mu.Unlock()
	n.stopRuns()
	n.runs.Wait()
	return n.close(ctx)
}

// tlsWatchInterval is how often a node checks its TLS files for changes.
const tlsWatchInterval = 2 * time.Second

// close closes whatever parts exist, in order; Open uses it to undo a
// partial open.
func (n *Node) close(ctx context.Context) error {
	if n.stopRuns != nil {
		n.stopRuns()
	}
	n.bg.Wait()
	if n.obs != nil {
		n.obs.SetReady(false) // 503 while shutting down
	}
	var err error
	if n.engine != nil {
		err = n.engine.Close(ctx)
	}
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
	if n.store != nil {
		if serr := n.store.Close(); serr != nil {
			err = errors.Join(err, fmt.Errorf("close datastore: %w", serr))
		}
	}
	if n.obs != nil {
		err = errors.Join(err, n.obs.Close(ctx))
	}
	return err
}
