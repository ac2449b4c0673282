package numax_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/numax/numax"
	"github.com/numax/numax/internal/testutil"
	wt "github.com/numax/numax/internal/wasmtest"
)

// greeter is a guest that logs "hello, embedder" through host_log.
var greeter = wt.Module{
	Imports:     []wt.Import{{Module: "nx", Name: "host_log", Type: wt.Type{Params: []byte{wt.I32, wt.I32}}}},
	MemoryPages: 1,
	Data:        []wt.Data{{Offset: 0, Bytes: []byte("hello, embedder")}},
	Funcs:       []wt.Func{{Body: wt.Cat(wt.I32Const(0), wt.I32Const(15), wt.Call(0)), Export: "run"}},
}.Bytes()

// msgOnly prints "msg module=..." lines, without time, level or the (random)
// NodeId, for the example output.
func msgOnly() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == "node" {
				return slog.Attr{}
			}
			return a
		},
	}))
}

func TestMain(m *testing.M) { os.Exit(testutil.Main(m)) }

func ExampleNode_Run() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "numax-example-")
	defer os.RemoveAll(dir)

	cfg := numax.DefaultConfig()
	cfg.DatastorePath = filepath.Join(dir, "data")
	cfg.CompileCache = "" // in memory only
	cfg.Logger = msgOnly()
	node, err := numax.Open(ctx, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close(ctx)
	if err := node.Run(ctx, greeter, numax.RunOptions{ID: "greeter.wasm"}); err != nil {
		fmt.Println(err)
	}
	// Output: msg="hello, embedder" module=greeter.wasm
}

func TestNode_Lifecycle(t *testing.T) {
	ctx := context.Background()
	cfg := numax.DefaultConfig()
	cfg.DatastorePath = t.TempDir()
	cfg.CompileCache = ""
	node, err := numax.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := numax.Open(ctx, cfg); err == nil {
		t.Fatal("second node on the same datastore opened")
	}
	for i := 0; i < 2; i++ {
		if err := node.Run(ctx, greeter, numax.RunOptions{ID: "g.wasm"}); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	if err := node.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := node.Close(ctx); !errors.Is(err, numax.ErrClosed) {
		t.Fatalf("second Close = %v", err)
	}
	if err := node.Run(ctx, greeter, numax.RunOptions{ID: "g.wasm"}); !errors.Is(err, numax.ErrClosed) {
		t.Fatalf("Run after Close = %v", err)
	}
	// The datastore is free again.
	node, err = numax.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	node.Close(ctx)
}

func TestOpen_InvalidLimits(t *testing.T) {
	cfg := numax.DefaultConfig()
	cfg.DatastorePath = t.TempDir()
	cfg.Limits.MaxKey = 0
	if _, err := numax.Open(context.Background(), cfg); err == nil {
		t.Fatal("zero key limit accepted")
	}
}

func TestNode_ReplicatedGuest(t *testing.T) {
	wasm, err := os.ReadFile(testutil.GoGuest(t, "testdata/guests/crdttour"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cfg := numax.DefaultConfig()
	cfg.DatastorePath = t.TempDir()
	// Sync on, no peers: the listen address is the one switch.
	cfg.Network.Listen, cfg.Network.Insecure = "127.0.0.1:0", true
	var out strings.Builder
	cfg.Stdout = &out
	want := []string{
		"status before: nx: ERR_NOT_FOUND (-1)\nvisits=2 stock=-3 status=online settings=1:theme tags=wasm doc=line1 node=32 note=\"héllo \"\n",
		"status before: <nil>\nvisits=4 stock=-6 status=online settings=1:theme tags=wasm doc=line1|line2 node=32 note=\"éllo héllo \"\n",
	}
	var id string
	for i, w := range want {
		out.Reset()
		node, err := numax.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := node.Run(ctx, wasm, numax.RunOptions{ID: "crdttour.wasm"}); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if out.String() != w {
			t.Fatalf("run %d stdout:\n%s\nwant:\n%s", i, out.String(), w)
		}
		if id != "" && node.NodeID() != id {
			t.Fatalf("node id changed: %s -> %s", id, node.NodeID())
		}
		id = node.NodeID()
		for _, f := range []struct {
			t    numax.Type
			key  string
			want string
		}{{numax.GCounter, "visits", fmt.Sprintf("visits = %d", 2*(i+1))}, {numax.ORSet, "tags", "tags = [wasm]"},
			{numax.Text, "note", []string{`note = "héllo "`, `note = "éllo héllo "`}[i]}} {
			if got, _ := node.Format(f.t, f.key); got != f.want {
				t.Fatalf("Format = %q, want %q", got, f.want)
			}
		}
		node.Close(ctx)
	}
}
