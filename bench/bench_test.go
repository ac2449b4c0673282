package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/numax/numax/internal/abi"
	"github.com/numax/numax/internal/engine"
	"github.com/numax/numax/internal/hostapi"
	"github.com/numax/numax/internal/store"
	"github.com/numax/numax/internal/testutil"
	wt "github.com/numax/numax/internal/wasmtest"
)

func TestMain(m *testing.M) { os.Exit(testutil.Main(m)) }

type env struct {
	r   wazero.Runtime
	st  *store.Store
	ctx context.Context
	n   int // instantiations so far, for unique module names
}

func newEnv(b *testing.B, mode store.SyncMode, closeOnDone bool) *env {
	b.Helper()
	ctx := context.Background()
	sc := store.DefaultConfig(b.TempDir())
	sc.Sync = mode
	st, err := store.Open(sc)
	if err != nil {
		b.Fatal(err)
	}
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(closeOnDone))
	if _, err := hostapi.Instantiate(ctx, r, &hostapi.Host{Store: st, Limits: abi.DefaultLimits(),
		LookupEnv: func(string) (string, bool) { return "", false }}); err != nil {
		b.Fatal(err)
	}
	// The baseline: bare host functions with the same types, doing the
	// least a host function can (return a constant; read a memory view).
	_, err = r.NewHostModuleBuilder("bare").
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, _ api.Module, s []uint64) {
		s[0] = 42
	}), nil, []api.ValueType{api.ValueTypeI64}).Export("const64").
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, m api.Module, s []uint64) {
		_, ok := m.Memory().Read(api.DecodeU32(s[0]), api.DecodeU32(s[1]))
		_, ok2 := m.Memory().Read(api.DecodeU32(s[2]), api.DecodeU32(s[3]))
		s[0] = api.EncodeI32(0)
		if !ok || !ok2 {
			s[0] = api.EncodeI32(-3)
		}
	}), []api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}).Export("read4").
		Instantiate(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close(ctx); st.Close() })
	return &env{r: r, st: st, ctx: ctx}
}

// run instantiates module bytes and times loop(n).
func (e *env) run(b *testing.B, name string, wasm []byte, n int) time.Duration {
	b.Helper()
	e.n++
	mod, err := e.r.InstantiateWithConfig(e.ctx, wasm, wazero.NewModuleConfig().WithName(fmt.Sprintf("guest-%s-%d", name, e.n)))
	if err != nil {
		b.Fatal(err)
	}
	defer mod.Close(e.ctx)
	f := mod.ExportedFunction("loop")
	start := time.Now()
	if _, err := f.Call(e.ctx, uint64(n)); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

var (
	i64Result = wt.Type{Results: []byte{wt.I64}}
)

// BenchmarkHostCall compares a trivial nx call with a bare wazero host call
// of the same shape, in the same run. Target: nx <= 2x bare.
func BenchmarkHostCall(b *testing.B) {
	e := newEnv(b, store.SyncInterval, true)
	call := func(idx uint32, args ...[]byte) []byte {
		return wt.Cat(append(args, wt.Call(idx), []byte{wt.OpDrop})...)
	}
	fourArgs := wt.Cat(wt.I32Const(0), wt.I32Const(4), wt.I32Const(16), wt.I32Const(64))
	cases := []struct {
		name      string
		nx, bare  []byte
		nxNote    string
		bareShape string
	}{
		{
			name: "time_monotonic",
			nx:   wt.LoopModule([]wt.Import{{Module: "nx", Name: "time_monotonic", Type: i64Result}}, call(0), nil),
			bare: wt.LoopModule([]wt.Import{{Module: "bare", Name: "const64", Type: i64Result}}, call(0), nil),
		},
		{
			// env_get of a name guests may not read: argument checks, a
			// memory read and the name pattern, answer -1.
			name: "env_get",
			nx:   wt.LoopModule([]wt.Import{{Module: "nx", Name: "env_get", Type: wt.FourI32}}, call(0, fourArgs), []wt.Data{{Offset: 0, Bytes: []byte("PATH")}}),
			bare: wt.LoopModule([]wt.Import{{Module: "bare", Name: "read4", Type: wt.FourI32}}, call(0, fourArgs), []wt.Data{{Offset: 0, Bytes: []byte("PATH")}}),
		},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			n := max(b.N, 1000)
			e.run(b, "warm", c.bare, 1000)
			e.run(b, "warm2", c.nx, 1000)
			b.ResetTimer()
			bare := e.run(b, "bare", c.bare, n)
			nx := e.run(b, "nx", c.nx, n)
			b.StopTimer()
			b.ReportMetric(float64(bare.Nanoseconds())/float64(n), "bare-ns/call")
			b.ReportMetric(float64(nx.Nanoseconds())/float64(n), "nx-ns/call")
			b.ReportMetric(float64(nx)/float64(bare), "nx/bare")
		})
	}
}

// dbLoop returns a module whose loop writes (or reads) a 4-byte key holding
// the loop counter, with a 100-byte value.
func dbLoop(fn string) []byte {
	body := wt.Cat(
		// memory[0..4] = counter (a distinct key per iteration)
		wt.I32Const(0), []byte{wt.OpLocalGet, 0}, []byte{0x36, 0x02, 0x00}, // i32.store align=2 offset=0
		wt.I32Const(0), wt.I32Const(4), wt.I32Const(64), wt.I32Const(100),
		wt.Call(0), []byte{wt.OpDrop},
	)
	return wt.LoopModule([]wt.Import{{Module: "nx", Name: fn, Type: wt.FourI32}}, body, nil)
}

// BenchmarkStore compares a guest db_set / db_get loop with raw Pebble
// Set / Get of the same keys and values at the same durability, in the same
// run. Target: guest db_set >= 0.5x raw Pebble throughput.
func BenchmarkStore(b *testing.B) {
	for _, mode := range []store.SyncMode{store.SyncInterval, store.SyncAlways} {
		b.Run(mode.String(), func(b *testing.B) {
			n := max(b.N, 1000)
			if mode == store.SyncAlways {
				n = min(n, 2000) // each write waits for an fsync
			}
			e := newEnv(b, mode, true)
			guestSet := e.run(b, "set", dbLoop("db_set"), n)
			guestGet := e.run(b, "get", dbLoop("db_get"), n)

			db, err := pebble.Open(filepath.Join(b.TempDir(), "raw"), &pebble.Options{
				FormatMajorVersion: pebble.FormatNewest, Logger: quietLogger{},
			})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			wo := pebble.NoSync
			if mode == store.SyncAlways {
				wo = pebble.Sync
			}
			val := make([]byte, 100)
			key := make([]byte, 5)
			key[0] = 'g'
			start := time.Now()
			for i := n; i > 0; i-- {
				binary.LittleEndian.PutUint32(key[1:], uint32(i))
				if err := db.Set(key, val, wo); err != nil {
					b.Fatal(err)
				}
			}
			rawSet := time.Since(start)
			start = time.Now()
			for i := n; i > 0; i-- {
				binary.LittleEndian.PutUint32(key[1:], uint32(i))
				v, c, err := db.Get(key)
				if err != nil {
					b.Fatal(err)
				}
				_ = append([]byte(nil), v...)
				c.Close()
			}
			rawGet := time.Since(start)
			b.ReportMetric(float64(n)/guestSet.Seconds(), "guest-set/s")
			b.ReportMetric(float64(n)/rawSet.Seconds(), "raw-set/s")
			b.ReportMetric(rawSet.Seconds()/guestSet.Seconds(), "set-guest/raw")
			b.ReportMetric(float64(n)/guestGet.Seconds(), "guest-get/s")
			b.ReportMetric(float64(n)/rawGet.Seconds(), "raw-get/s")
			b.ReportMetric(rawGet.Seconds()/guestGet.Seconds(), "get-guest/raw")
		})
	}
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// BenchmarkCloseOnContextDone measures what the invocation time limit costs
// guest loops: wazero's context checks on vs off (guest_timeout = 0). wazero
// adds an indirect call at every loop back-edge, so an empty loop is the
// worst case; a loop making one host call per iteration is a typical one.
func BenchmarkCloseOnContextDone(b *testing.B) {
	fourArgs := wt.Cat(wt.I32Const(0), wt.I32Const(4), wt.I32Const(16), wt.I32Const(64))
	shapes := []struct {
		name string
		n    int
		wasm []byte
	}{
		{"empty_loop", 50_000_000, wt.LoopModule(nil, nil, nil)},
		{"host_call_loop", 5_000_000, wt.LoopModule([]wt.Import{{Module: "nx", Name: "env_get", Type: wt.FourI32}},
			wt.Cat(fourArgs, wt.Call(0), []byte{wt.OpDrop}), []wt.Data{{Offset: 0, Bytes: []byte("PATH")}})},
	}
	for _, sh := range shapes {
		b.Run(sh.name, func(b *testing.B) {
			on := newEnv(b, store.SyncInterval, true).run(b, "on", sh.wasm, sh.n)
			off := newEnv(b, store.SyncInterval, false).run(b, "off", sh.wasm, sh.n)
			b.ReportMetric(float64(off.Nanoseconds())/float64(sh.n), "off-ns/iter")
			b.ReportMetric(float64(on.Nanoseconds())/float64(sh.n), "on-ns/iter")
			b.ReportMetric(on.Seconds()/off.Seconds(), "on/off")
		})
	}
}

// BenchmarkStartup compares a cold compile with a compile served from the
// on-disk cache, for a Go guest and a C guest, each followed by one run.
func BenchmarkStartup(b *testing.B) {
	guests := map[string]string{
		"go": testutil.GoGuest(b, "examples/hello"),
		"c":  testutil.CGuest(b, "examples/hello_c/guest/hello.c"),
	}
	for _, name := range []string{"go", "c"} {
		wasm, err := os.ReadFile(guests[name])
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			start := func(cacheDir string) time.Duration {
				ctx := context.Background()
				st, err := store.Open(store.DefaultConfig(b.TempDir()))
				if err != nil {
					b.Fatal(err)
				}
				defer st.Close()
				t0 := time.Now()
				cfg := engine.DefaultConfig()
				cfg.CacheDir = cacheDir
				e, err := engine.New(ctx, cfg, &hostapi.Host{Store: st, Limits: abi.DefaultLimits()})
				if err != nil {
					b.Fatal(err)
				}
				defer e.Close(ctx)
				m, err := e.Compile(ctx, wasm)
				if err != nil {
					b.Fatal(err)
				}
				if err := e.Run(ctx, m, engine.RunConfig{ID: name}); err != nil {
					b.Fatal(err)
				}
				return time.Since(t0)
			}
			var cold, cached time.Duration
			rounds := max(1, min(b.N, 5))
			for i := 0; i < rounds; i++ {
				dir := b.TempDir()
				cold += start(dir)
				cached += start(dir)
			}
			b.ReportMetric(float64(cold.Milliseconds())/float64(rounds), "cold-ms")
			b.ReportMetric(float64(cached.Microseconds())/1000/float64(rounds), "cached-ms")
			b.ReportMetric(cold.Seconds()/cached.Seconds(), "cold/cached")
			b.ReportMetric(float64(len(wasm)), "wasm-bytes")
		})
	}
}
