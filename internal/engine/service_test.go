package engine

import (
	"context"
	"strings"
	"testing"

	wt "github.com/numax/numax/internal/wasmtest"
)

// Which kind of module: handler exports make a service; their types are
// checked at load time like imports.
func TestCompile_ServiceExports(t *testing.T) {
	e, _ := newEngine(t, nil)
	ctx := context.Background()
	for _, tt := range []struct {
		name    string
		funcs   []wt.Func
		service bool
		err     string
	}{
		{"job", []wt.Func{{Type: void, Export: "run"}}, false, ""},
		{"service_without_run", []wt.Func{{Type: void, Export: "on_request"}}, true, ""},
		{"service_with_init_run_shutdown", []wt.Func{{Type: void, Export: "run"}, {Type: void, Export: "init"}, {Type: void, Export: "on_tick"}, {Type: void, Export: "shutdown"}}, true, ""},
		{"init_alone_is_not_a_service", []wt.Func{{Type: void, Export: "init"}}, false, "no entry point"},
		{"handler_wrong_type", []wt.Func{{Type: wt.Type{Params: []byte{wt.I32}}, Export: "on_change"}}, false, "export on_change has type (i32) -> (), want () -> ()"},
		{"shutdown_wrong_type", []wt.Func{{Type: void, Export: "on_peer"}, {Type: wt.Type{Results: []byte{wt.I32}}, Body: wt.I32Const(0), Export: "shutdown"}}, false, "export shutdown has type () -> i32"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := e.Compile(ctx, wt.Module{Funcs: tt.funcs}.Bytes())
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close(ctx)
			if m.IsService() != tt.service {
				t.Fatalf("IsService = %v", m.IsService())
			}
		})
	}
}

// An instance keeps its memory across calls; a failed call leaves a typed
// error; _initialize runs once per instance.
func TestInstance_CallsKeepState(t *testing.T) {
	e, log := newEngine(t, nil)
	ctx := context.Background()
	// bump increments the i32 at address 0; check traps unless it is 3.
	bump := wt.Cat(wt.I32Const(0), wt.I32Const(0), []byte{0x28, 0x02, 0x00}, wt.I32Const(1), []byte{wt.OpI32Add, 0x36, 0x02, 0x00})
	check := expect(wt.Cat(wt.I32Const(0), []byte{0x28, 0x02, 0x00}), 3)
	mod := wt.Module{MemoryPages: 1, Imports: []wt.Import{{Module: "nx", Name: "host_log", Type: logType}},
		Data: []wt.Data{{Offset: 16, Bytes: []byte("init")}},
		Funcs: []wt.Func{
			{Type: void, Body: bump, Export: "on_tick"},
			{Type: void, Body: check, Export: "on_change"},
			{Type: void, Body: wt.Cat(wt.I32Const(16), wt.I32Const(4), wt.Call(0)), Export: "_initialize"},
		}}
	m, err := e.Compile(ctx, mod.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	a, err := e.Instantiate(ctx, m, RunConfig{ID: "svc.wasm"}, "#1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Instantiate(ctx, m, RunConfig{ID: "svc.wasm"}, "#2")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := a.Call(ctx, "on_tick"); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Call(ctx, "on_change"); err != nil {
		t.Fatalf("instance a lost its memory between calls: %v", err)
	}
	if err := b.Call(ctx, "on_change"); err == nil || !strings.Contains(err.Error(), "guest trapped: unreachable") {
		t.Fatalf("instance b shares memory with a: %v", err)
	}
	if n := strings.Count(log.String(), "msg=init module=svc.wasm\n"); n != 2 {
		t.Fatalf("_initialize logged %d times with the module id, want once per instance:\n%s", n, log.String())
	}
	a.Close(ctx)
	b.Close(ctx)
}
