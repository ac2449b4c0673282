package numax_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/numax/numax"
	wt "github.com/numax/numax/internal/wasmtest"
)

// spinner loops forever without host calls: only the context stops it.
var spinner = wt.Module{Funcs: []wt.Func{{Body: []byte{wt.OpLoop, wt.OpBlockVoid, wt.OpBr, 0x00, wt.OpEnd}, Export: "run"}}}.Bytes()

func testConfig(t *testing.T) numax.Config {
	cfg := numax.DefaultConfig()
	cfg.DatastorePath = filepath.Join(t.TempDir(), "data")
	cfg.CompileCache = ""
	return cfg
}

// Every setting is checked before anything is opened: a bad one leaves no
// datastore directory, no listener and no goroutine behind.
func TestOpen_ValidatesBeforeOpeningAnything(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(*numax.Config)
	}{
		{"empty_datastore_path", func(c *numax.Config) { c.DatastorePath = "" }},
		{"unknown_sync_mode", func(c *numax.Config) { c.Sync = 7 }},
		{"zero_sync_interval", func(c *numax.Config) { c.SyncInterval = 0 }},
		{"guest_memory_too_small", func(c *numax.Config) { c.GuestMemory = 1024 }},
		{"negative_guest_timeout", func(c *numax.Config) { c.GuestTimeout = -time.Second }},
		{"zero_limit", func(c *numax.Config) { c.Limits.MaxValue = 0 }},
		{"zero_op_log_limit", func(c *numax.Config) { c.OpLogLimit = 0 }},
		{"peers_without_listen", func(c *numax.Config) { c.Network.Peers = []string{"127.0.0.1:1"} }},
		{"gossip_without_listen", func(c *numax.Config) { c.Network.Discovery = numax.DiscoveryGossip }},
		{"listen_without_tls", func(c *numax.Config) { c.Network.Listen = "127.0.0.1:0" }},
		{"unknown_discovery_mode", func(c *numax.Config) {
			c.Network.Listen, c.Network.Insecure, c.Network.Discovery = "127.0.0.1:0", true, "carrier-pigeon"
		}},
		{"file_mode_without_file", func(c *numax.Config) {
			c.Network.Listen, c.Network.Insecure, c.Network.Discovery = "127.0.0.1:0", true, numax.DiscoveryFile
		}},
		{"zero_max_peers", func(c *numax.Config) {
			c.Network.Listen, c.Network.Insecure, c.Network.MaxPeers = "127.0.0.1:0", true, 0
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			tt.mutate(&cfg)
			if cfg.Validate() == nil {
				t.Fatal("Validate accepted it")
			}
			if _, err := numax.Open(context.Background(), cfg); err == nil {
				t.Fatal("Open accepted it")
			}
			if cfg.DatastorePath != "" {
				if _, err := os.Stat(cfg.DatastorePath); !os.IsNotExist(err) {
					t.Fatalf("the datastore directory was created (%v)", err)
				}
			}
		})
	}
}

// A failure late in Open (gossip cannot bind, after the store, replica,
// links and observability endpoint are up) closes what was opened: the
// datastore lock, the observability port and the sync port are free again.
func TestOpen_FailureLateClosesWhatWasOpened(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := testConfig(t)
	cfg.ObservabilityListen = freeAddr(t)
	cfg.Network.Listen, cfg.Network.Insecure = freeAddr(t), true
	cfg.Network.Discovery, cfg.Network.GossipListen = numax.DiscoveryGossip, busy.Addr().String()
	if _, err := numax.Open(context.Background(), cfg); err == nil {
		t.Fatal("Open succeeded with the gossip port taken")
	}
	for _, addr := range []string{cfg.ObservabilityListen, cfg.Network.Listen} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("%s still held after the failed Open: %v", addr, err)
		}
		ln.Close()
	}
	// The datastore opens again: its lock was released.
	cfg.Network.Discovery, cfg.Network.GossipListen = numax.DiscoveryStatic, ""
	node, err := numax.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("reopen after the failed Open: %v", err)
	}
	if err := node.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Close during a Run stops the guest and waits for it before closing the
// engine and the store; a Run after Close refuses. Run under -race, many
// times over, this is where a Run/Close race would show.
func TestNode_RunAndCloseDoNotRace(t *testing.T) {
	ctx := context.Background()
	for i := range 20 {
		cfg := testConfig(t)
		cfg.DatastorePath = filepath.Join(t.TempDir(), "d")
		node, err := numax.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for j := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[j] = node.Run(ctx, spinner, numax.RunOptions{ID: "spin.wasm"})
			}()
		}
		done := make(chan error, 1)
		go func() { done <- node.Close(ctx) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("round %d: Close: %v", i, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: Close did not stop the running guests", i)
		}
		wg.Wait()
		for j, err := range errs {
			if err == nil {
				t.Fatalf("round %d: run %d of an endless loop returned nil", i, j)
			}
		}
		if err := node.Run(ctx, greeter, numax.RunOptions{ID: "g.wasm"}); !errors.Is(err, numax.ErrClosed) {
			t.Fatalf("Run after Close = %v, want ErrClosed", err)
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
