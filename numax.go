package numax

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/numax/numax/internal/abi"
	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/engine"
	"github.com/numax/numax/internal/hostapi"
	"github.com/numax/numax/internal/replica"
	"github.com/numax/numax/internal/store"
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
	replica *replica.Replica // nil without sync
	engine  *engine.Engine
	log     *slog.Logger

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
	sc := store.DefaultConfig(cfg.DatastorePath)
	sc.Sync, sc.SyncInterval, sc.Logger = cfg.Sync, cfg.SyncInterval, log
	st, err := store.Open(sc)
	if err != nil {
		return nil, err
	}
	host := &hostapi.Host{
		Store: st, Logger: log, Limits: cfg.Limits, LookupEnv: cfg.LookupEnv, Start: time.Now(),
	}
	var rep *replica.Replica
	if cfg.Replicate {
		rc := cfg.Replica
		rc.Store, rc.Logger = st, log
		if rep, err = replica.Open(rc); err != nil {
			_ = st.Close()
			return nil, err
		}
		host.Sync = syncHost{rep}
	}
	ec := engine.Config{
		CacheDir: cfg.CompileCache, MemoryLimit: cfg.GuestMemory, Timeout: cfg.GuestTimeout,
		Stdout: cfg.Stdout, Stderr: cfg.Stderr, Logger: log,
	}
	eng, err := engine.New(ctx, ec, host)
	if err != nil {
		if rep != nil {
			_ = rep.Close(ctx)
		}
		_ = st.Close()
		return nil, err
	}
	return &Node{cfg: cfg, store: st, replica: rep, engine: eng, log: log}, nil
}

// syncHost adapts a replica to the host API's Sync.
type syncHost struct{ *replica.Replica }

func (s syncHost) Peers() []abi.Peer {
	ids := s.Replica.Peers()
	peers := make([]abi.Peer, len(ids))
	for i, id := range ids {
		peers[i] = abi.Peer{NodeID: id}
	}
	return peers
}

// NodeID returns the node's identity, or "" without sync.
func (n *Node) NodeID() string {
	if n.replica == nil {
		return ""
	}
	return n.replica.NodeID()
}

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
		return err
	}
	defer m.Close(ctx)
	n.log.Debug("module compiled", "module", o.ID, "entry", m.Entry, "compile_time", m.CompileTime)
	return n.engine.Run(ctx, m, engine.RunConfig{ID: o.ID, Args: o.Args})
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
	err := n.engine.Close(ctx)
	if n.replica != nil {
		dctx, cancel := context.WithTimeout(ctx, n.cfg.ShutdownTimeout)
		err = errors.Join(err, n.replica.Close(dctx))
		cancel()
	}
	if serr := n.store.Close(); serr != nil {
		err = errors.Join(err, fmt.Errorf("close datastore: %w", serr))
	}
	return err
}
