package engine

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/numax/numax/internal/hostapi"
)

// Instance is one instantiated guest kept across calls: a member of a
// service module's pool. One goroutine at a time may Call it. After a Call
// fails the instance must not be used again (a timed-out instance has been
// closed by wazero; a trapped one may hold broken state): Close it and make
// a new one.
type Instance struct {
	e     *Engine
	m     *Module
	mod   api.Module
	alloc *limitAllocator
	// fns caches the exported functions: wazero makes a new function, with
	// its own stack, on every ExportedFunction.
	fns map[string]api.Function
}

// Instantiate makes an instance of m named rc.ID plus suffix (pool members
// need distinct names; module_id and log lines show rc.ID alone) and runs
// `_initialize` within one invocation's time limit.
func (e *Engine) Instantiate(ctx context.Context, m *Module, rc RunConfig, suffix string) (*Instance, error) {
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	alloc := &limitAllocator{limit: e.cfg.MemoryLimit}
	ictx := experimental.WithMemoryAllocator(ctx, alloc)
	if m.LogForm == hostapi.LogOriginal {
		var err error
		if ictx, err = e.withOriginalLog(ictx); err != nil {
			return nil, err
		}
	}
	name := rc.ID
	if suffix != "" {
		name += hostapi.InstanceSeparator + suffix
	}
	mc := wazero.NewModuleConfig().
		WithName(name).
		WithArgs(append([]string{rc.ID}, rc.Args...)...).
		WithStdout(e.cfg.Stdout).
		WithStderr(e.cfg.Stderr).
		WithStartFunctions().
		WithSysWalltime().
		WithSysNanotime().
		WithSysNanosleep().
		WithRandSource(rand.Reader)
	mod, err := e.r.InstantiateModule(ictx, m.compiled, mc)
	if err != nil {
		return nil, e.classify(ctx, alloc, err)
	}
	inst := &Instance{e: e, m: m, mod: mod, alloc: alloc, fns: map[string]api.Function{}}
	if to := alloc.refusedTo.Load(); to > 0 {
		_ = mod.Close(context.WithoutCancel(ctx))
		return nil, &MemoryLimitError{Limit: e.cfg.MemoryLimit, Requested: to, Declared: true}
	}
	if m.Initialize {
		if err := inst.Call(ctx, "_initialize"); err != nil {
			_ = inst.Close(ctx)
			return nil, err
		}
	}
	return inst, nil
}

// Has reports whether the instance's module exports name.
func (i *Instance) Has(name string) bool { return i.fn(name) != nil }

func (i *Instance) fn(name string) api.Function {
	f, ok := i.fns[name]
	if !ok {
		f = i.mod.ExportedFunction(name)
		i.fns[name] = f
	}
	return f
}

// Call calls the export name (of type () -> ()) within one invocation's time
// limit and returns how it ended, as Run's typed errors. Like Has, it is for
// one goroutine at a time.
func (i *Instance) Call(ctx context.Context, name string) error {
	f := i.fn(name)
	if f == nil {
		return fmt.Errorf("module exports no %s", name)
	}
	if i.e.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, i.e.cfg.Timeout)
		defer cancel()
	}
	i.alloc.refusedTo.Store(0)
	if _, err := f.Call(ctx); err != nil {
		return i.e.classify(ctx, i.alloc, err)
	}
	if to := i.alloc.refusedTo.Load(); to > 0 {
		i.e.cfg.Logger.Warn("guest reached its memory limit but recovered",
			"module", i.mod.Name(), "limit", formatBytes(i.e.cfg.MemoryLimit), "requested", formatBytes(to))
	}
	return nil
}

// Memory is the instance's linear memory size in bytes.
func (i *Instance) Memory() uint64 {
	if mem := i.mod.ExportedMemory("memory"); mem != nil {
		return uint64(mem.Size())
	}
	return 0
}

// Close closes the instance.
func (i *Instance) Close(ctx context.Context) error {
	return i.mod.Close(context.WithoutCancel(ctx))
}
