package engine

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/numax/numax/internal/abi"
	"github.com/numax/numax/internal/hostapi"
	"github.com/numax/numax/internal/store"
	wt "github.com/numax/numax/internal/wasmtest"
)

var (
	void    = wt.Type{}
	logType = wt.Type{Params: []byte{wt.I32, wt.I32}}
)

type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newEngine(t testing.TB, mutate func(*Config)) (*Engine, *lines) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(store.DefaultConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := &lines{}
	cfg := DefaultConfig()
	cfg.Timeout = 5 * time.Second
	cfg.Stdout = log
	cfg.Logger = slog.New(slog.NewTextHandler(log, nil))
	if mutate != nil {
		mutate(&cfg)
	}
	e, err := New(ctx, cfg, &hostapi.Host{
		Store: st, Limits: abi.DefaultLimits(),
		Logger: slog.New(slog.NewTextHandler(log, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(ctx) })
	return e, log
}

func run(t *testing.T, e *Engine, m wt.Module) error {
	t.Helper()
	ctx := context.Background()
	mod, err := e.Compile(ctx, m.Bytes())
	if err != nil {
		return err
	}
	defer mod.Close(ctx)
	return e.Run(ctx, mod, RunConfig{ID: "test.wasm"})
}

var (
	logV2Levelled = wt.Import{Module: "nx", Name: "host_log_v2", Type: wt.Type{Params: []byte{wt.I32, wt.I32, wt.I32}}}
	logV2Original = wt.Import{Module: "nx", Name: "host_log_v2", Type: wt.Type{Params: []byte{wt.I32, wt.I32}, Results: []byte{wt.I32}}}
)

// expect runs call (which leaves one i32) and traps unless it equals want.
func expect(call []byte, want int32) []byte {
	return wt.Cat([]byte{wt.OpBlock, wt.OpBlockVoid}, call, wt.I32Const(want),
		[]byte{wt.OpI32Eq, wt.OpBrIf, 0x00, wt.OpUnreachable, wt.OpEnd})
}

// logFunc is a function body that calls import 0 (host_log) on data at 0.
func logCall(n int32) []byte { return wt.Cat(wt.I32Const(0), wt.I32Const(n), wt.Call(0)) }

func TestRun_Outcomes(t *testing.T) {
	hostLog := wt.Import{Module: "nx", Name: "host_log", Type: logType}
	abort := wt.Import{Module: "nx", Name: "abort", Type: logType}
	growLoop := wt.Cat(
		[]byte{wt.OpLoop, wt.OpBlockVoid},
		wt.I32Const(16), []byte{wt.OpMemoryGrow, 0x00},
		wt.I32Const(-1), []byte{wt.OpI32Ne, wt.OpBrIf, 0x00, wt.OpEnd},
		[]byte{wt.OpUnreachable},
	)
	tests := []struct {
		name    string
		mod     wt.Module
		cfg     func(*Config)
		check   func(t *testing.T, err error)
		wantLog string
	}{
		{
			name: "run_is_called",
			mod: wt.Module{Imports: []wt.Import{hostLog}, MemoryPages: 1,
				Data:  []wt.Data{{Offset: 0, Bytes: []byte("hello")}},
				Funcs: []wt.Func{{Type: void, Body: logCall(5), Export: "run"}}},
			check:   noErr,
			wantLog: "msg=hello module=test.wasm",
		},
		{
			name: "initialize_before_run",
			mod: wt.Module{Imports: []wt.Import{hostLog}, MemoryPages: 1,
				Data: []wt.Data{{Offset: 0, Bytes: []byte("init")}, {Offset: 8, Bytes: []byte("run!")}},
				Funcs: []wt.Func{
					{Type: void, Body: wt.Cat(wt.I32Const(8), wt.I32Const(4), wt.Call(0)), Export: "run"},
					{Type: void, Body: logCall(4), Export: "_initialize"},
				}},
			check:   noErr,
			wantLog: "msg=init module=test.wasm\n.*msg=run! module=test.wasm",
		},
		{
			name:  "start_when_no_run",
			mod:   wt.Module{Funcs: []wt.Func{{Type: void, Body: nil, Export: "_start"}}},
			check: noErr,
		},
		{
			name: "no_entry_point",
			mod:  wt.Module{Funcs: []wt.Func{{Type: void, Body: nil, Export: "main"}}},
			check: func(t *testing.T, err error) {
				if !errors.Is(err, ErrNoEntryPoint) || !strings.Contains(err.Error(), "`run` or `_start`") {
					t.Fatalf("err = %v", err)
				}
			},
		},
		{
			name: "entry_point_wrong_type",
			mod:  wt.Module{Funcs: []wt.Func{{Type: wt.Type{Results: []byte{wt.I32}}, Body: wt.I32Const(0), Export: "run"}}},
			check: func(t *testing.T, err error) {
				if err == nil || !strings.Contains(err.Error(), "entry point run has type () -> i32, want () -> ()") {
					t.Fatalf("err = %v", err)
				}
			},
		},
		{
			name: "unknown_import",
			mod: wt.Module{Imports: []wt.Import{{Module: "env", Name: "now", Type: wt.Type{Results: []byte{wt.I64}}}},
				Funcs: []wt.Func{{Type: void, Export: "run"}}},
			check: func(t *testing.T, err error) {
				var ie *ImportError
				if !errors.As(err, &ie) || err.Error() != `unknown import env.now () -> i64: the runtime provides only the "nx" host functions and "wasi_snapshot_preview1"` {
					t.Fatalf("err = %v", err)
				}
			},
		},
		{
			name: "unknown_nx_function",
			mod: wt.Module{Imports: []wt.Import{{Module: "nx", Name: "db_frobnicate", Type: void}},
				Funcs: []wt.Func{{Type: void, Export: "run"}}},
			check: func(t *testing.T, err error) {
				if err == nil || !strings.Contains(err.Error(), "unknown import nx.db_frobnicate () -> ()") {
					t.Fatalf("err = %v", err)
				}
			},
		},
		{
			name: "import_wrong_type",
			mod: wt.Module{Imports: []wt.Import{{Module: "nx", Name: "db_get", Type: wt.Type{Params: []byte{wt.I32}, Results: []byte{wt.I32}}}},
				Funcs: []wt.Func{{Type: void, Export: "run"}}},
			check: func(t *testing.T, err error) {
				want := "import nx.db_get has type (i32) -> i32, want (i32, i32, i32, i32) -> i32"
				if err == nil || err.Error() != want {
					t.Fatalf("err = %v, want %q", err, want)
				}
			},
		},
		{
			name: "imported_memory",
			mod:  wt.Module{ImportMemory: [2]string{"env", "memory"}, Funcs: []wt.Func{{Type: void, Export: "run"}}},
			check: func(t *testing.T, err error) {
				if err == nil || !strings.Contains(err.Error(), "env.memory") {
					t.Fatalf("err = %v", err)
				}
			},
		},
		{
			name: "nx_without_exported_memory",
			mod: wt.Module{Imports: []wt.Import{hostLog}, MemoryPages: 1, MemoryExport: "mem",
				Funcs: []wt.Func{{Type: void, Export: "run"}}},
			check: func(t *testing.T, err error) {
				if err == nil || !strings.Contains(err.Error(), `does not export its memory as "memory"`) {
					t.Fatalf("err = %v", err)
				}
			},
		},
		{
			name: "trap",
			mod:  wt.Module{Funcs: []wt.Func{{Type: void, Body: []byte{wt.OpUnreachable}, Export: "run"}}},
			check: func(t *testing.T, err error) {
				var te *TrapError
				if !errors.As(err, &te) || err.Error() != "guest trapped: unreachable" || !strings.Contains(te.Detail, "wasm stack trace") {
					t.Fatalf("err = %v", err)
				}
			},
		},
		{
			name: "abort",
			mod: wt.Module{Imports: []wt.Import{abort}, MemoryPages: 1,
				Data:  []wt.Data{{Offset: 0, Bytes: []byte("bad state")}},
				Funcs: []wt.Func{{Type: void, Body: logCall(9), Export: "run"}}},
			check: func(t *testing.T, err error) {
				var ae *hostapi.AbortError
				if !errors.As(err, &ae) || err.Error() != "guest abort: bad state" {
					t.Fatalf("err = %v", err)
				}
			},
		},
		{
			name: "wasi_exit_code",
			mod: wt.Module{Imports: []wt.Import{{Module: "wasi_snapshot_preview1", Name: "proc_exit", Type: wt.Type{Params: []byte{wt.I32}}}},
				Funcs: []wt.Func{{Type: void, Body: wt.Cat(wt.I32Const(3), wt.Call(0)), Export: "_start"}}},
			check: func(t *testing.T, err error) {
				var ee *ExitError
				if !errors.As(err, &ee) || ee.Code != 3 {
					t.Fatalf("err = %v", err)
				}
			},
		},
		{
			name: "wasi_exit_zero_is_success",
			mod: wt.Module{Imports: []wt.Import{{Module: "wasi_snapshot_preview1", Name: "proc_exit", Type: wt.Type{Params: []byte{wt.I32}}}},
				Funcs: []wt.Func{{Type: void, Body: wt.Cat(wt.I32Const(0), wt.Call(0)), Export: "_start"}}},
			check: noErr,
		},
		{
			name: "host_log_v2_levelled_form",
			mod: wt.Module{Imports: []wt.Import{logV2Levelled}, MemoryPages: 1,
				Data:  []wt.Data{{Offset: 0, Bytes: []byte("careful")}},
				Funcs: []wt.Func{{Type: void, Body: wt.Cat(wt.I32Const(3), wt.I32Const(0), wt.I32Const(7), wt.Call(0)), Export: "run"}}},
			check:   noErr,
			wantLog: "level=WARN msg=careful module=test.wasm",
		},
		{
			// The original runtime's form: info level, returns 0, and -3 for a
			// range outside memory. Any other answer traps.
			name: "host_log_v2_original_form",
			mod: wt.Module{Imports: []wt.Import{logV2Original, hostLog}, MemoryPages: 1,
				Data: []wt.Data{{Offset: 0, Bytes: []byte("hello")}, {Offset: 8, Bytes: []byte("other")}},
				Funcs: []wt.Func{{Type: void, Export: "run", Body: wt.Cat(
					expect(wt.Cat(wt.I32Const(0), wt.I32Const(5), wt.Call(0)), 0),
					expect(wt.Cat(wt.I32Const(-256), wt.I32Const(512), wt.Call(0)), -3),
					// The rest of nx still links for this module.
					wt.I32Const(8), wt.I32Const(5), wt.Call(1),
				)}}},
			check:   noErr,
			wantLog: "level=INFO msg=hello module=test.wasm\n.*level=INFO msg=other module=test.wasm",
		},
		{
			name: "host_log_v2_third_type",
			mod: wt.Module{Imports: []wt.Import{{Module: "nx", Name: "host_log_v2", Type: wt.Type{Params: []byte{wt.I32}}}}, MemoryPages: 1,
				Funcs: []wt.Func{{Type: void, Export: "run"}}},
			check: func(t *testing.T, err error) {
				want := "import nx.host_log_v2 has type (i32) -> (), want (i32, i32, i32) -> () or (i32, i32) -> i32"
				var ie *ImportError
				if !errors.As(err, &ie) || err.Error() != want {
					t.Fatalf("err = %v, want %q", err, want)
				}
			},
		},
		{
			// The host module that carries the original form is not importable
			// by name.
			name: "internal_host_module_not_importable",
			mod: wt.Module{Imports: []wt.Import{{Module: nxOriginalName, Name: "host_log", Type: logType}}, MemoryPages: 1,
				Funcs: []wt.Func{{Type: void, Export: "run"}}},
			check: func(t *testing.T, err error) {
				var ie *ImportError
				if !errors.As(err, &ie) || ie.Want != "" {
					t.Fatalf("err = %v", err)
				}
			},
		},
		{
			name: "endless_loop_hits_time_limit",
			mod:  wt.Module{Funcs: []wt.Func{{Type: void, Body: []byte{wt.OpLoop, wt.OpBlockVoid, wt.OpBr, 0x00, wt.OpEnd}, Export: "run"}}},
			cfg:  func(c *Config) { c.Timeout = 200 * time.Millisecond },
			check: func(t *testing.T, err error) {
				var te *TimeoutError
				if !errors.As(err, &te) || !strings.Contains(err.Error(), "time limit of 200ms") {
					t.Fatalf("err = %v", err)
				}
			},
		},
		{
			name: "memory_growth_hits_limit",
			mod:  wt.Module{MemoryPages: 1, Funcs: []wt.Func{{Type: void, Body: growLoop, Export: "run"}}},
			cfg:  func(c *Config) { c.MemoryLimit = 4 << 20 },
			check: func(t *testing.T, err error) {
				var me *MemoryLimitError
				if !errors.As(err, &me) || me.Limit != 4<<20 || !strings.Contains(err.Error(), "memory limit of 4 MiB reached") {
					t.Fatalf("err = %v", err)
				}
			},
		},
		{
			name: "declared_memory_over_limit",
			mod:  wt.Module{MemoryPages: 100, Funcs: []wt.Func{{Type: void, Export: "run"}}},
			cfg:  func(c *Config) { c.MemoryLimit = 1 << 20 },
			check: func(t *testing.T, err error) {
				var me *MemoryLimitError
				if !errors.As(err, &me) || !me.Declared || !strings.Contains(err.Error(), "over the limit of 1 MiB") && !strings.Contains(err.Error(), "than the limit of 1 MiB") {
					t.Fatalf("err = %v", err)
				}
			},
		},
		{
			name: "declared_memory_one_page_over_limit",
			mod:  wt.Module{MemoryPages: 17, Funcs: []wt.Func{{Type: void, Export: "run"}}},
			cfg:  func(c *Config) { c.MemoryLimit = 1 << 20 },
			check: func(t *testing.T, err error) {
				var me *MemoryLimitError
				if !errors.As(err, &me) || !me.Declared || me.Requested != 17*pageSize {
					t.Fatalf("err = %v", err)
				}
			},
		},
		{
			name:  "declared_memory_at_limit_runs",
			mod:   wt.Module{MemoryPages: 16, Funcs: []wt.Func{{Type: void, Export: "run"}}},
			cfg:   func(c *Config) { c.MemoryLimit = 1 << 20 },
			check: noErr,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, log := newEngine(t, tt.cfg)
			err := run(t, e, tt.mod)
			tt.check(t, err)
			if tt.wantLog != "" && !matches(log.String(), tt.wantLog) {
				t.Fatalf("log %q does not match %q", log.String(), tt.wantLog)
			}
		})
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("err = %v", err)
	}
}

func TestCompile_RejectsNonWasm(t *testing.T) {
	e, _ := newEngine(t, nil)
	ctx := context.Background()
	for _, in := range [][]byte{nil, []byte("#!/bin/sh\necho hi\n"), []byte("\x7fELF")} {
		if _, err := e.Compile(ctx, in); !errors.Is(err, ErrNotWasm) {
			t.Errorf("Compile(%q) = %v", in, err)
		}
	}
	// The magic is right but the rest is garbage.
	_, err := e.Compile(ctx, []byte("\x00asm\x01\x00\x00\x00\xff\xff"))
	var ce *CompileError
	if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), "invalid module: ") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("garbage module: %v", err)
	}
}

func TestRun_TimeoutDisabled(t *testing.T) {
	e, _ := newEngine(t, func(c *Config) { c.Timeout = 0 })
	err := run(t, e, wt.Module{Funcs: []wt.Func{{Type: void, Body: nil, Export: "run"}}})
	noErr(t, err)
}

func TestRun_CanceledContext(t *testing.T) {
	e, _ := newEngine(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	mod, err := e.Compile(ctx, wt.Module{Funcs: []wt.Func{{Type: void, Body: []byte{wt.OpLoop, wt.OpBlockVoid, wt.OpBr, 0x00, wt.OpEnd}, Export: "run"}}}.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(50*time.Millisecond, cancel)
	err = e.Run(ctx, mod, RunConfig{ID: "loop.wasm"})
	var ce *CanceledError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v", err)
	}
}

func TestEngine_CloseIsIdempotent(t *testing.T) {
	e, _ := newEngine(t, nil)
	ctx := context.Background()
	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close = %v", err)
	}
}

func TestConfig_Validate(t *testing.T) {
	for _, c := range []Config{{MemoryLimit: 100}, {MemoryLimit: 1 << 32}, {MemoryLimit: 1 << 20, Timeout: -1}} {
		if err := c.validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func TestCompile_CacheDirIsUsed(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	m := wt.Module{Funcs: []wt.Func{{Type: void, Body: nil, Export: "run"}}}
	for i := 0; i < 2; i++ {
		e, _ := newEngine(t, func(c *Config) { c.CacheDir = dir })
		mod, err := e.Compile(ctx, m.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		mod.Close(ctx)
		e.Close(ctx)
	}
	if n := countFiles(t, dir); n == 0 {
		t.Fatal("no compiled module was written to the cache dir")
	}
}

func TestTrimCache_DeletesTheOldestPastTheLimit(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-time.Hour)
	files := []struct {
		path string
		size int
		age  time.Duration // before old
	}{
		{"wazero-v1/a", 400, 3 * time.Minute},
		{"wazero-v1/b", 300, 2 * time.Minute},
		{"wazero-v2/c", 200, 1 * time.Minute},
		{"wazero-v2/d", 100, 0},
	}
	for _, f := range files {
		p := filepath.Join(dir, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, f.size), 0o600); err != nil {
			t.Fatal(err)
		}
		at := old.Add(-f.age)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		limit int64
		freed int64
		left  []string
	}{
		{1000, 0, []string{"a", "b", "c", "d"}},
		{650, 400, []string{"b", "c", "d"}},
		{300, 300, []string{"c", "d"}},
		{0, 300, nil},
	}
	for _, tt := range tests {
		if got := trimCache(dir, tt.limit); got != tt.freed {
			t.Fatalf("limit %d: freed %d bytes, want %d", tt.limit, got, tt.freed)
		}
		var left []string
		for _, f := range files {
			if _, err := os.Stat(filepath.Join(dir, f.path)); err == nil {
				left = append(left, filepath.Base(f.path))
			}
		}
		if !slices.Equal(left, tt.left) {
			t.Fatalf("limit %d: left %v, want %v", tt.limit, left, tt.left)
		}
	}
}

func TestNew_TrimsTheCompilationCache(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "wazero-old", "entry")
	if err := os.MkdirAll(filepath.Dir(stale), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(stale)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: past the limit in size, nothing on disk.
	if err := f.Truncate(cacheMax + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	long := time.Now().Add(-24 * time.Hour)
	if err := os.Chtimes(stale, long, long); err != nil {
		t.Fatal(err)
	}
	e, _ := newEngine(t, func(c *Config) { c.CacheDir = dir })
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("the stale entry is still there: %v", err)
	}
	// The cache still works: a module compiles through it.
	m, err := e.Compile(context.Background(), wt.Module{Funcs: []wt.Func{{Export: "run"}}}.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	m.Close(context.Background())
}
