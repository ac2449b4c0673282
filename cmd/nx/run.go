package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/numax/numax"
	"github.com/numax/numax/internal/config"
	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/engine"
	"github.com/numax/numax/internal/store"
)

type runFlags struct {
	log           logFlags
	datastorePath string
	sync          string
	syncInterval  string
	guestTimeout  string
	guestMemory   string
	compileCache  string

	listen          string
	peers           []string
	waitBeforeRun   string
	settleFor       string
	debugProtocol   bool
	tlsCert         string
	tlsKey          string
	tlsCA           string
	allowedPeers    []string
	tlsInsecure     bool
	adoptIdentity   bool
	shutdownTimeout string
	prints          map[crdt.Type]*[]string
}

var printFlags = []struct {
	name string
	t    crdt.Type
}{
	{"print-gcounter", crdt.TypeGCounter}, {"print-pncounter", crdt.TypePNCounter},
	{"print-lww-register", crdt.TypeLWWRegister}, {"print-lww-map", crdt.TypeLWWMap},
	{"print-orset", crdt.TypeORSet}, {"print-rga", crdt.TypeRGA},
}

func newRunCmd(stdout, stderr io.Writer) *cobra.Command {
	def := numax.DefaultConfig()
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run MODULE.wasm [flags] [-- guest args]",
		Short: "Run a module on this node",
		Long: "Run opens the datastore, instantiates the module, calls its entry point\n" +
			"(`run`, else `_start`; `_initialize` first when exported) once, and exits.",
		Args: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			n := len(args)
			if dash >= 0 {
				n = dash
			}
			if n != 1 {
				return usagef("run takes exactly one module before `--`, got %d", n)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var guestArgs []string
			if dash := cmd.ArgsLenAtDash(); dash >= 0 {
				guestArgs = args[dash:]
			}
			return f.run(cmd, args[0], guestArgs, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.datastorePath, "datastore-path", def.DatastorePath, "data directory")
	fl.StringVar(&f.sync, "sync", def.Sync.String(), `durability: "interval" (fsync within --sync-interval) or "always" (fsync before a write returns)`)
	fl.StringVar(&f.syncInterval, "sync-interval", def.SyncInterval.String(), "longest time an acknowledged write stays unsynced in interval mode")
	fl.StringVar(&f.guestTimeout, "guest-timeout", def.GuestTimeout.String(), "wall-time limit of one invocation; 0 turns the limit off")
	fl.StringVar(&f.guestMemory, "guest-memory", config.FormatSize(def.GuestMemory), "cap on the guest's linear memory")
	fl.StringVar(&f.compileCache, "compile-cache", def.CompileCache, `directory of compiled modules kept across runs ("" = none)`)
	fl.StringVar(&f.log.level, "log-level", "info", "trace, debug, info, warn or error")
	fl.StringVar(&f.log.format, "log-format", "text", "text or json")
	fl.BoolVarP(&f.log.verbose, "verbose", "v", false, "same as --log-level debug")

	fl.StringVar(&f.listen, "listen", "", "accept peers on this address; enables sync")
	fl.StringArrayVar(&f.peers, "peer", nil, "a peer address to dial (repeatable)")
	fl.StringVar(&f.waitBeforeRun, "wait-before-run", "0s", "after sync starts, wait up to this long for the configured peers")
	fl.StringVar(&f.settleFor, "settle-for", "", "after the run, keep syncing this long, then exit")
	fl.BoolVar(&f.debugProtocol, "debug-protocol", false, "send JSON wire frames instead of binary")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "this node's certificate (PEM); its key gives the NodeId")
	fl.StringVar(&f.tlsKey, "tls-key", "", "this node's private key (PEM)")
	fl.StringVar(&f.tlsCA, "tls-ca", "", "the cluster CA certificate (PEM)")
	fl.StringSliceVar(&f.allowedPeers, "allowed-peers", nil, "only accept these NodeIds (comma-separated)")
	fl.BoolVar(&f.tlsInsecure, "tls-insecure", false, "plain TCP without TLS, for local development only")
	fl.BoolVar(&f.adoptIdentity, "adopt-identity", false, "take over a datastore written under another NodeId")
	fl.StringVar(&f.shutdownTimeout, "shutdown-timeout", "30s", "bound on a graceful shutdown")
	f.prints = map[crdt.Type]*[]string{}
	for _, p := range printFlags {
		v := new([]string)
		f.prints[p.t] = v
		fl.StringArrayVar(v, p.name, nil, "after settling, print this "+p.t.String()+" as `K = value` (repeatable)")
	}
	return cmd
}

// network validates the sync flags and fills cfg.Network.
func (f *runFlags) network(cmd *cobra.Command, cfg *numax.Config) error {
	needSync := []string{"peer", "wait-before-run", "settle-for", "debug-protocol", "tls-cert", "tls-key",
		"tls-ca", "allowed-peers", "tls-insecure", "adopt-identity"}
	for _, p := range printFlags {
		needSync = append(needSync, p.name)
	}
	if f.listen == "" {
		for _, name := range needSync {
			if cmd.Flags().Changed(name) {
				return usagef("--%s needs sync: add --listen ADDR", name)
			}
		}
		return nil
	}
	n := &cfg.Network
	n.Listen, n.Peers, n.Debug, n.AdoptIdentity = f.listen, f.peers, f.debugProtocol, f.adoptIdentity
	n.TLSCert, n.TLSKey, n.TLSCA, n.AllowedPeers, n.Insecure = f.tlsCert, f.tlsKey, f.tlsCA, f.allowedPeers, f.tlsInsecure
	tlsSet := f.tlsCert != "" || f.tlsKey != "" || f.tlsCA != ""
	switch {
	case f.tlsInsecure && (tlsSet || len(f.allowedPeers) > 0):
		return usagef("--tls-insecure excludes --tls-cert, --tls-key, --tls-ca and --allowed-peers")
	case !f.tlsInsecure && (f.tlsCert == "" || f.tlsKey == "" || f.tlsCA == ""):
		return usagef("sync needs --tls-cert, --tls-key and --tls-ca (make them with `nx cert`), or --tls-insecure for local development")
	}
	var err error
	if cfg.ShutdownTimeout, err = config.ParseDuration(f.shutdownTimeout); err != nil {
		return usagef("--shutdown-timeout: %v", err)
	}
	return nil
}

func (f *runFlags) config(cmd *cobra.Command, stdout, stderr io.Writer) (numax.Config, error) {
	cfg := numax.DefaultConfig()
	var err error
	if cfg.Logger, err = f.log.newLogger(stderr); err != nil {
		return cfg, err
	}
	if cfg.Sync, err = store.ParseSyncMode(f.sync); err != nil {
		return cfg, usagef("--sync: %v", err)
	}
	if cfg.SyncInterval, err = config.ParseDuration(f.syncInterval); err != nil || cfg.SyncInterval == 0 {
		return cfg, usagef("--sync-interval %q: want a positive duration such as 10ms", f.syncInterval)
	}
	if cfg.GuestTimeout, err = config.ParseDuration(f.guestTimeout); err != nil {
		return cfg, usagef("--guest-timeout: %v", err)
	}
	if cfg.GuestMemory, err = config.ParseSize(f.guestMemory); err != nil {
		return cfg, usagef("--guest-memory: %v", err)
	}
	if cfg.GuestMemory < 64<<10 || cfg.GuestMemory > 4<<30-64<<10 {
		return cfg, usagef("--guest-memory %s: want between 64KiB and 4GiB minus 64KiB", f.guestMemory)
	}
	if f.datastorePath == "" {
		return cfg, usagef("--datastore-path must not be empty")
	}
	cfg.DatastorePath = f.datastorePath
	cfg.CompileCache = f.compileCache
	cfg.Stdout, cfg.Stderr = stdout, stderr
	return cfg, f.network(cmd, &cfg)
}

func (f *runFlags) run(cmd *cobra.Command, path string, guestArgs []string, stdout, stderr io.Writer) (err error) {
	ctx := cmd.Context()
	cfg, err := f.config(cmd, stdout, stderr)
	if err != nil {
		return err
	}
	wait, err := config.ParseDuration(f.waitBeforeRun)
	if err != nil {
		return usagef("--wait-before-run: %v", err)
	}
	var settle time.Duration
	if f.settleFor != "" {
		if settle, err = config.ParseDuration(f.settleFor); err != nil {
			return usagef("--settle-for: %v", err)
		}
	}
	// Read and sniff the module before touching the datastore, so a wrong
	// path or a wrong file leaves the node's directory as it was.
	wasm, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read module: %w", err)
	}
	if err := engine.CheckMagic(wasm); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	node, err := numax.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := node.Close(context.WithoutCancel(ctx)); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if cfg.GuestTimeout == 0 {
		// Without a time limit wazero does not watch the context, so a
		// running guest cannot be stopped gracefully; say so at the signal.
		stopWatch := context.AfterFunc(ctx, func() {
			cfg.Logger.Warn("guest_timeout is 0: the running guest cannot be interrupted; send the signal again to abort")
		})
		defer stopWatch()
	}
	if cfg.Network.Listen != "" && wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, wait)
		node.WaitForPeers(wctx)
		cancel()
	}
	err = node.Run(ctx, wasm, numax.RunOptions{ID: path, Args: guestArgs})
	var te *engine.TrapError
	if errors.As(err, &te) {
		cfg.Logger.Debug("guest trap detail", "module", path, "detail", te.Detail)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if cfg.Network.Listen == "" {
		return nil
	}
	if f.settleFor != "" {
		cfg.Logger.Info("settling", "for", settle.String())
		select {
		case <-time.After(settle):
		case <-ctx.Done():
		}
	} else {
		cfg.Logger.Info("serving until SIGINT or SIGTERM", "node", node.NodeID(), "listen", node.Addr().String())
		<-ctx.Done()
	}
	if ctx.Err() != nil {
		cfg.Logger.Info("shutting down: sending queued ops (a second signal aborts)")
	}
	for _, p := range printFlags {
		for _, key := range *f.prints[p.t] {
			line, err := node.Format(p.t, key)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, line)
		}
	}
	return nil
}
