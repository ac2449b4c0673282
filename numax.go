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
	"github.com/numax/numax/internal/engine"
	"github.com/numax/numax/internal/hostapi"
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
	cfg    Config
	store  *store.Store
	engine *engine.Engine
	log    *slog.Logger

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
	ec := engine.Config{
		CacheDir: cfg.CompileCache, MemoryLimit: cfg.GuestMemory, Timeout: cfg.GuestTimeout,
		Stdout: cfg.Stdout, Stderr: cfg.Stderr, Logger: log,
	}
	eng, err := engine.New(ctx, ec, host)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	return &Node{cfg: cfg, store: st, engine: eng, log: log}, nil
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
	if serr := n.store.Close(); serr != nil {
		err = errors.Join(err, fmt.Errorf("close datastore: %w", serr))
	}
	return err
}
