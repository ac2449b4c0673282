package serve

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/numax/numax/internal/abi"
	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/engine"
	"github.com/numax/numax/internal/hostapi"
	"github.com/numax/numax/internal/store"
	wt "github.com/numax/numax/internal/wasmtest"
)

// okModule answers every request 200 "ok" and counts on_change calls in the
// i32 at address 64.
func okModule() []byte {
	respond := wt.Import{Module: "nx", Name: "http_respond", Type: wt.Type{Params: []byte{wt.I32, wt.I32, wt.I32, wt.I32, wt.I32}, Results: []byte{wt.I32}}}
	count := wt.Cat(wt.I32Const(64), wt.I32Const(64), []byte{0x28, 0x02, 0x00}, wt.I32Const(1), []byte{wt.OpI32Add, 0x36, 0x02, 0x00})
	return wt.Module{Imports: []wt.Import{respond}, MemoryPages: 1,
		Data: []wt.Data{{Offset: 0, Bytes: []byte{0, 0, 0, 0}}, {Offset: 16, Bytes: []byte("ok")}},
		Funcs: []wt.Func{
			{Type: wt.Type{}, Body: wt.Cat(wt.I32Const(200), wt.I32Const(0), wt.I32Const(4), wt.I32Const(16), wt.I32Const(2), wt.Call(0), []byte{wt.OpDrop}), Export: "on_request"},
			{Type: wt.Type{}, Body: count, Export: "on_change"},
		}}.Bytes()
}

func newTestServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(store.DefaultConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ec := engine.DefaultConfig()
	ec.Timeout = 5 * time.Second
	eng, err := engine.New(ctx, ec, &hostapi.Host{Store: st, Limits: abi.DefaultLimits()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(ctx) })
	m, err := eng.Compile(ctx, okModule())
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTPListen = "127.0.0.1:0"
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.Registry = prometheus.NewRegistry()
	s, err := New(cfg, eng, m, engine.RunConfig{ID: "ok.wasm"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(ctx) })
	return s
}

// Many parallel requests over a small pool, changes arriving meanwhile:
// under -race this is where the pool, the ring and the trigger loop meet.
func TestServer_ParallelRequestsAndChanges(t *testing.T) {
	s := newTestServer(t, Config{Instances: 2, Queue: 1000})
	url := "http://" + s.Addr().String() + "/x"
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%10 == 0 {
				s.Changed([]crdt.ObjKey{{Type: crdt.TypeGCounter, Key: "k"}})
				s.Publish("e", []byte("x"))
			}
			r, err := http.Get(url)
			code := -1
			if err == nil {
				b, _ := io.ReadAll(r.Body)
				r.Body.Close()
				if string(b) == "ok" {
					code = r.StatusCode
				}
			}
			mu.Lock()
			codes[code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if codes[200] != 200 {
		t.Fatalf("codes %v, want 200 x 200", codes)
	}
	if s.pool.busy.Load() != 0 {
		t.Fatalf("%d instances still busy", s.pool.busy.Load())
	}
}

func TestServer_NoListenerWithoutOnRequest(t *testing.T) {
	ctx := context.Background()
	st, _ := store.Open(store.DefaultConfig(t.TempDir()))
	defer st.Close()
	eng, err := engine.New(ctx, engine.DefaultConfig(), &hostapi.Host{Store: st, Limits: abi.DefaultLimits()})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	m, err := eng.Compile(ctx, wt.Module{Funcs: []wt.Func{{Type: wt.Type{}, Export: "on_tick"}}}.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(Config{HTTPListen: "127.0.0.1:0"}, eng, m, engine.RunConfig{ID: "tick.wasm"})
	if _, ok := err.(*MissingHandlersError); !ok {
		t.Fatalf("err = %v, want MissingHandlersError", err)
	}
}
