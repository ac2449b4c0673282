package engine

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/numax/numax/internal/abi"
	"github.com/numax/numax/internal/defaults"
	"github.com/numax/numax/internal/hostapi"
)

// Config configures an Engine.
type Config struct {
	// CacheDir holds compiled modules across processes; "" keeps the cache
	// in memory only. An unusable directory is logged and ignored.
	CacheDir string
	// MemoryLimit caps each guest's linear memory, in bytes (rounded down to
	// 64 KiB pages). Default 256 MiB.
	MemoryLimit uint64
	// Timeout bounds one invocation's wall time. 0 disables the limit and
	// wazero's context checks, which cost tight guest loops some speed.
	Timeout time.Duration
	// Stdout and Stderr receive the guest's WASI output (discarded if nil).
	Stdout, Stderr io.Writer
	// Logger receives the engine's own lines.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults of docs/host-abi.md: 256 MiB, 30 s.
func DefaultConfig() Config {
	return Config{MemoryLimit: defaults.GuestMemory, Timeout: defaults.GuestTimeout}
}

// maxMemory is the wasm32 address space.
const maxMemory = 1 << 32

// Check reports a memory limit or time limit that cannot work; it changes
// nothing (New also fills in defaults).
func (c Config) Check() error {
	if c.MemoryLimit < pageSize || c.MemoryLimit > maxMemory-pageSize {
		return fmt.Errorf("engine: memory limit %d must be between 64 KiB and 4 GiB - 64 KiB", c.MemoryLimit)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("engine: negative time limit %s", c.Timeout)
	}
	return nil
}

func (c *Config) validate() error {
	if err := c.Check(); err != nil {
		return err
	}
	c.MemoryLimit -= c.MemoryLimit % pageSize
	if c.Stdout == nil {
		c.Stdout = io.Discard
	}
	if c.Stderr == nil {
		c.Stderr = io.Discard
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Engine runs guests against one host. Compile and Run are safe for
// concurrent use; Close ends everything.
type Engine struct {
	cfg   Config
	r     wazero.Runtime
	cache wazero.CompilationCache
	// provided maps "module\x00name" to the types the runtime provides
	// (host_log_v2 has two, abi.Alternatives).
	provided map[string][]abi.Func
	// host is what the host functions act on; nxOriginal is the host
	// module with the original runtime's host_log_v2, linked in place of
	// "nx" for modules that import that form, made on first need
	// (originalOnce; originalErr if that failed).
	host         *hostapi.Host
	originalOnce sync.Once
	nxOriginal   api.Module
	originalErr  error

	// mu guards closed.
	mu     sync.Mutex
	closed bool

	// lastMemory is the linear memory size of the last instance run.
	lastMemory atomic.Uint64
}

// LastMemory returns the linear memory size, in bytes, of the last guest
// instance at the end of its invocation.
func (e *Engine) LastMemory() uint64 { return e.lastMemory.Load() }

// New creates the wazero runtime, instantiates WASI and the nx host module
// bound to host, and returns the engine.
func New(ctx context.Context, cfg Config, host *hostapi.Host) (*Engine, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	// wazero's page limit stays at the wasm32 maximum so that every
	// memory.grow reaches limitAllocator, which enforces the cap and records
	// the refusal; Compile checks declared minimums first.
	rc := wazero.NewRuntimeConfig().WithCloseOnContextDone(cfg.Timeout > 0)
	e := &Engine{cfg: cfg}
	if cfg.CacheDir != "" {
		if freed := trimCache(cfg.CacheDir, cacheMax); freed > 0 {
			cfg.Logger.Debug("compilation cache trimmed", "dir", cfg.CacheDir, "freed_bytes", freed, "limit_bytes", cacheMax)
		}
		cache, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			cfg.Logger.Warn("compilation cache unusable; compiling in memory only", "dir", cfg.CacheDir, "err", err)
		} else {
			e.cache = cache
			rc = rc.WithCompilationCache(cache)
		}
	}
	e.r = wazero.NewRuntimeWithConfig(ctx, rc)
	fail := func(err error) (*Engine, error) {
		_ = e.r.Close(ctx)
		if e.cache != nil {
			_ = e.cache.Close(ctx)
		}
		return nil, err
	}
	wasi, err := wasi_snapshot_preview1.NewBuilder(e.r).Compile(ctx)
	if err != nil {
		return fail(fmt.Errorf("compile WASI: %w", err))
	}
	e.provided = map[string][]abi.Func{}
	for name, d := range wasi.ExportedFunctions() {
		e.provided[wasi_snapshot_preview1.ModuleName+"\x00"+name] = []abi.Func{{
			Name: name, Params: fromValueTypes(d.ParamTypes()), Results: fromValueTypes(d.ResultTypes()),
		}}
	}
	if _, err := e.r.InstantiateModule(ctx, wasi, wazero.NewModuleConfig()); err != nil {
		return fail(fmt.Errorf("instantiate WASI: %w", err))
	}
	for _, f := range abi.Functions {
		e.provided[abi.ModuleName+"\x00"+f.Name] = abi.Alternatives(f.Name)
	}
	if _, err := hostapi.Instantiate(ctx, e.r, host); err != nil {
		return fail(fmt.Errorf("instantiate host module: %w", err))
	}
	e.host = host
	return e, nil
}

// withOriginalLog returns ctx resolving the import module "nx" to the host
// module with the original host_log_v2: the same functions once more, under a
// name no guest can import, instantiated the first time a module needs it.
func (e *Engine) withOriginalLog(ctx context.Context) (context.Context, error) {
	e.originalOnce.Do(func() {
		e.nxOriginal, e.originalErr = hostapi.InstantiateAs(context.WithoutCancel(ctx), e.r, e.host, nxOriginalName, hostapi.LogOriginal)
		if e.originalErr != nil {
			e.originalErr = fmt.Errorf("instantiate host module (original log form): %w", e.originalErr)
		}
	})
	if e.originalErr != nil {
		return ctx, e.originalErr
	}
	nxOriginal := e.nxOriginal
	return experimental.WithImportResolver(ctx, func(name string) api.Module {
		if name == abi.ModuleName {
			return nxOriginal
		}
		return nil
	}), nil
}

func fromValueTypes(ts []api.ValueType) []abi.ValType {
	out := make([]abi.ValType, len(ts))
	for i, t := range ts {
		out[i] = abi.ValType(t)
	}
	return out
}

func sameTypes(a, b []abi.ValType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// nxOriginalName names the host module with the original host_log_v2. A
// guest's own import of this name would be refused by check, since it is
// neither "nx" nor WASI.
const nxOriginalName = "nx\x00original-log"

// Module is a compiled guest, checked against the host, ready to run.
type Module struct {
	compiled wazero.CompiledModule
	// LogForm is the host_log_v2 form the module imports (levelled when it
	// imports neither).
	LogForm hostapi.LogForm
	// Entry is the function Run calls: "run" or "_start".
	Entry string
	// Initialize is true when the module exports `_initialize`.
	Initialize bool
	// Exports are the service exports the module has (Handlers, Init,
	// Shutdown), each checked to be () -> ().
	Exports map[string]bool
	// CompileTime is how long Compile took (short when the cache hit).
	CompileTime time.Duration
}

// Compile decodes, validates and compiles wasm, then checks its imports and
// entry point. Nothing of the guest runs.
func (e *Engine) Compile(ctx context.Context, wasm []byte) (*Module, error) {
	if err := CheckMagic(wasm); err != nil {
		return nil, err
	}
	if err := checkCounts(wasm); err != nil {
		return nil, &CompileError{Err: err}
	}
	// A malformed module is left to wazero, which explains it in full.
	if mins, err := memoryMinimums(wasm); err == nil {
		for _, pages := range mins {
			if pages*pageSize > e.cfg.MemoryLimit {
				return nil, &MemoryLimitError{Limit: e.cfg.MemoryLimit, Requested: pages * pageSize, Declared: true}
			}
		}
	}
	start := time.Now()
	cm, err := e.r.CompileModule(ctx, wasm)
	if err != nil {
		return nil, &CompileError{Err: err}
	}
	m := &Module{compiled: cm, CompileTime: time.Since(start)}
	if err := e.check(m); err != nil {
		_ = cm.Close(ctx)
		return nil, err
	}
	return m, nil
}

var voidType = abi.Func{}

func (e *Engine) check(m *Module) error {
	usesNx := false
	for _, d := range m.compiled.ImportedFunctions() {
		mod, name, _ := d.Import()
		got := abi.Func{Name: name, Params: fromValueTypes(d.ParamTypes()), Results: fromValueTypes(d.ResultTypes())}
		alts, ok := e.provided[mod+"\x00"+name]
		if !ok {
			return &ImportError{Module: mod, Name: name, Got: got.Signature()}
		}
		matched := -1
		for i, want := range alts {
			if sameTypes(got.Params, want.Params) && sameTypes(got.Results, want.Results) {
				matched = i
				break
			}
		}
		if matched < 0 {
			wants := make([]string, len(alts))
			for i, want := range alts {
				wants[i] = want.Signature()
			}
			return &ImportError{Module: mod, Name: name, Got: got.Signature(), Want: strings.Join(wants, " or ")}
		}
		if mod == abi.ModuleName && name == abi.HostLogV2Original.Name && matched == 1 {
			m.LogForm = hostapi.LogOriginal
		}
		usesNx = usesNx || mod == abi.ModuleName
	}
	for _, d := range m.compiled.ImportedMemories() {
		mod, name, _ := d.Import()
		return &ImportError{Module: mod, Name: name, Got: "memory"}
	}
	exports := m.compiled.ExportedFunctions()
	m.Exports = map[string]bool{}
	for _, name := range ServiceExports {
		d, ok := exports[name]
		if !ok {
			continue
		}
		if len(d.ParamTypes()) != 0 || len(d.ResultTypes()) != 0 {
			got := abi.Func{Params: fromValueTypes(d.ParamTypes()), Results: fromValueTypes(d.ResultTypes())}
			return fmt.Errorf("export %s has type %s, want %s", name, got.Signature(), voidType.Signature())
		}
		m.Exports[name] = true
	}
	for _, name := range []string{"run", "_start"} {
		d, ok := exports[name]
		if !ok {
			continue
		}
		if len(d.ParamTypes()) != 0 || len(d.ResultTypes()) != 0 {
			got := abi.Func{Params: fromValueTypes(d.ParamTypes()), Results: fromValueTypes(d.ResultTypes())}
			return fmt.Errorf("entry point %s has type %s, want %s", name, got.Signature(), voidType.Signature())
		}
		m.Entry = name
		break
	}
	if m.Entry == "" && !m.IsService() {
		return ErrNoEntryPoint
	}
	if d, ok := exports["_initialize"]; ok {
		if len(d.ParamTypes()) != 0 || len(d.ResultTypes()) != 0 {
			return fmt.Errorf("_initialize must have type () -> ()")
		}
		m.Initialize = true
	}
	if _, ok := m.compiled.ExportedMemories()["memory"]; usesNx && !ok {
		return fmt.Errorf("module imports nx functions but does not export its memory as \"memory\"")
	}
	return nil
}

// The exports a service module may have (docs/serving.md): the handlers,
// then init and shutdown. All are () -> ().
const (
	ExportInit      = "init"
	ExportOnRequest = "on_request"
	ExportOnChange  = "on_change"
	ExportOnTick    = "on_tick"
	ExportOnPeer    = "on_peer"
	ExportShutdown  = "shutdown"
)

// Handlers are the exports that make a module a service.
var Handlers = []string{ExportOnRequest, ExportOnChange, ExportOnTick, ExportOnPeer}

// ServiceExports are every export the node calls on a service.
var ServiceExports = []string{ExportInit, ExportOnRequest, ExportOnChange, ExportOnTick, ExportOnPeer, ExportShutdown}

// IsService reports whether the module exports at least one handler; a
// module without one is a job, run once.
func (m *Module) IsService() bool {
	for _, h := range Handlers {
		if m.Exports[h] {
			return true
		}
	}
	return false
}

// Close releases the compiled module.
func (m *Module) Close(ctx context.Context) error { return m.compiled.Close(ctx) }

// RunConfig is one invocation's identity and arguments.
type RunConfig struct {
	// ID is the module id guests read with module_id (the path given to nx
	// run); it is also argv[0].
	ID string
	// Args are the guest's arguments after argv[0].
	Args []string
}

// Run instantiates m, calls `_initialize` if exported, then its entry point,
// all within one invocation's time limit, and closes the instance.
func (e *Engine) Run(ctx context.Context, m *Module, rc RunConfig) error {
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if e.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.cfg.Timeout)
		defer cancel()
	}
	alloc := &limitAllocator{limit: e.cfg.MemoryLimit}
	ctx = experimental.WithMemoryAllocator(ctx, alloc)
	if m.LogForm == hostapi.LogOriginal {
		var err error
		if ctx, err = e.withOriginalLog(ctx); err != nil {
			return err
		}
	}
	mc := wazero.NewModuleConfig().
		WithName(rc.ID).
		WithArgs(append([]string{rc.ID}, rc.Args...)...).
		WithStdout(e.cfg.Stdout).
		WithStderr(e.cfg.Stderr).
		WithStartFunctions(). // we call the entry points ourselves
		WithSysWalltime().
		WithSysNanotime().
		WithSysNanosleep().
		WithRandSource(rand.Reader)
	inst, err := e.r.InstantiateModule(ctx, m.compiled, mc)
	if err != nil {
		return e.classify(ctx, alloc, err)
	}
	defer inst.Close(context.WithoutCancel(ctx))
	defer func() {
		// Memory() of a module without one is a typed nil: go by the
		// exported definitions instead.
		for name := range m.compiled.ExportedMemories() {
			if mem := inst.ExportedMemory(name); mem != nil {
				e.lastMemory.Store(uint64(mem.Size()))
			}
			break
		}
	}()
	if to := alloc.refusedTo.Load(); to > 0 {
		return &MemoryLimitError{Limit: e.cfg.MemoryLimit, Requested: to, Declared: true}
	}
	for _, name := range []string{"_initialize", m.Entry} {
		if name == "_initialize" && !m.Initialize {
			continue
		}
		if _, err := inst.ExportedFunction(name).Call(ctx); err != nil {
			return e.classify(ctx, alloc, err)
		}
	}
	if to := alloc.refusedTo.Load(); to > 0 {
		e.cfg.Logger.Warn("guest reached its memory limit but recovered",
			"module", rc.ID, "limit", formatBytes(e.cfg.MemoryLimit), "requested", formatBytes(to))
	}
	return nil
}

// classify turns how an invocation ended into one of the typed errors.
func (e *Engine) classify(ctx context.Context, alloc *limitAllocator, err error) error {
	var abort *hostapi.AbortError
	if errors.As(err, &abort) {
		return abort
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case 0:
			return nil
		case sys.ExitCodeDeadlineExceeded:
			return &TimeoutError{Limit: e.cfg.Timeout}
		case sys.ExitCodeContextCanceled:
			return &CanceledError{Err: context.Cause(ctx)}
		}
		if to := alloc.refusedTo.Load(); to > 0 {
			return &MemoryLimitError{Limit: e.cfg.MemoryLimit, Requested: to, Err: err}
		}
		return &ExitError{Code: exit.ExitCode()}
	}
	if to := alloc.refusedTo.Load(); to > 0 {
		return &MemoryLimitError{Limit: e.cfg.MemoryLimit, Requested: to, Err: err}
	}
	msg := firstLine(err.Error())
	const prefix = "wasm error: "
	if len(msg) > len(prefix) && msg[:len(prefix)] == prefix {
		msg = msg[len(prefix):]
	}
	return &TrapError{Message: msg, Detail: err.Error(), Err: err}
}

// Close closes the runtime and the compilation cache. A second Close
// returns ErrClosed.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return ErrClosed
	}
	e.closed = true
	e.mu.Unlock()
	err := e.r.Close(ctx)
	if e.cache != nil {
		err = errors.Join(err, e.cache.Close(ctx))
	}
	return err
}
