package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/numax/numax/internal/membudget"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/numax/numax"
	"github.com/numax/numax/internal/config"
	"github.com/numax/numax/internal/engine"
)

type runFlags struct {
	log             logFlags
	configFile      string
	datastorePath   string
	sync            string
	syncInterval    string
	guestTimeout    string
	guestMemory     string
	compileCache    string
	listen          string
	peers           []string
	discovery       string
	gossipListen    string
	seeds           []string
	peersFile       string
	debugProtocol   bool
	tlsCert         string
	tlsKey          string
	tlsCA           string
	allowedPeers    []string
	tlsInsecure     bool
	adoptIdentity   bool
	acceptDataLoss  bool
	obsListen       string
	waitBeforeRun   string
	settleFor       string
	shutdownTimeout string
	cpuProfile      string
	memProfile      string
	httpListen      string
	prints          map[numax.Type]*[]string
}

var printFlags = []struct {
	name string
	t    numax.Type
}{
	{"print-gcounter", numax.GCounter}, {"print-pncounter", numax.PNCounter},
	{"print-lww-register", numax.LWWRegister}, {"print-lww-map", numax.LWWMap},
	{"print-orset", numax.ORSet}, {"print-rga", numax.RGA}, {"print-text", numax.Text},
}

func newRunCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd, _ := newRunCmdFlags(stdout, stderr)
	return cmd
}

// newRunCmdFlags returns the run command and the flags it parses into.
func newRunCmdFlags(stdout, stderr io.Writer) (*cobra.Command, *runFlags) {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run MODULE.wasm [flags] [-- guest args]",
		Short: "Run a module on this node",
		Long: "Run opens the datastore, instantiates the module, calls its entry point\n" +
			"(`run`, else `_start`; `_initialize` first when exported) once, and exits.\n" +
			"A service module (one exporting on_request, on_change, on_tick or on_peer)\n" +
			"is served instead until SIGINT/SIGTERM: --http ADDR answers HTTP with on_request.\n" +
			"With --listen it also syncs its CRDT state with peers (see --settle-for).\n" +
			"Settings come from flags > NX_* environment > --config file > defaults.",
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
	d := config.Default()
	fl.StringVar(&f.configFile, "config", "", "TOML configuration file (see nx config init)")
	fl.StringVar(&f.datastorePath, "datastore-path", d.Storage.DatastorePath, "data directory")
	fl.StringVar(&f.sync, "sync", d.Storage.Sync, `durability: "interval" (fsync within --sync-interval) or "always" (fsync before a write returns)`)
	fl.StringVar(&f.syncInterval, "sync-interval", time.Duration(d.Storage.SyncInterval).String(), "longest time an acknowledged write stays unsynced in interval mode")
	fl.StringVar(&f.guestTimeout, "guest-timeout", time.Duration(d.Limits.GuestTimeout).String(), "wall-time limit of one invocation; 0 turns the limit off")
	fl.StringVar(&f.guestMemory, "guest-memory", config.FormatSize(uint64(d.Limits.GuestMemory)), "cap on the guest's linear memory")
	fl.StringVar(&f.compileCache, "compile-cache", "", `directory of compiled modules kept across runs (default: the user cache directory)`)
	fl.StringVar(&f.log.level, "log-level", d.Observability.LogLevel, "trace, debug, info, warn or error")
	fl.StringVar(&f.log.format, "log-format", d.Observability.LogFormat, "text or json")
	fl.BoolVarP(&f.log.verbose, "verbose", "v", false, "same as --log-level debug")
	fl.StringVar(&f.obsListen, "observability-listen", "", "serve /metrics, /health and /ready on this address")
	fl.StringVar(&f.httpListen, "http", "", "serve HTTP on this address with the module's on_request (a service module; docs/serving.md)")

	fl.StringVar(&f.listen, "listen", "", "accept peers on this address; enables sync")
	fl.StringArrayVar(&f.peers, "peer", nil, "a peer address to dial (repeatable)")
	fl.StringVar(&f.discovery, "discovery", d.Discovery.Mode, "how peers are found: static (--peer), gossip (--gossip-listen, --seed) or file (--peers-file)")
	fl.StringVar(&f.gossipListen, "gossip-listen", "", "gossip (membership) address, with --discovery gossip")
	fl.StringArrayVar(&f.seeds, "seed", nil, "a gossip address to join through (repeatable; any one is enough)")
	fl.StringVar(&f.peersFile, "peers-file", "", "a file of peer addresses, one per line, re-read on change (--discovery file)")
	fl.StringVar(&f.waitBeforeRun, "wait-before-run", "0s", "after sync starts, wait up to this long for the configured peers")
	fl.StringVar(&f.settleFor, "settle-for", "", "after the run, keep syncing this long, then exit")
	fl.BoolVar(&f.debugProtocol, "debug-protocol", false, "send JSON wire frames instead of binary")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "this node's certificate (PEM); its key gives the NodeId")
	fl.StringVar(&f.tlsKey, "tls-key", "", "this node's private key (PEM)")
	fl.StringVar(&f.tlsCA, "tls-ca", "", "the cluster CA certificate (PEM)")
	fl.StringSliceVar(&f.allowedPeers, "allowed-peers", nil, "only accept these NodeIds (comma-separated)")
	fl.BoolVar(&f.tlsInsecure, "tls-insecure", false, "plain TCP without TLS, for local development only")
	fl.BoolVar(&f.adoptIdentity, "adopt-identity", false, "take over a datastore written under another NodeId")
	fl.BoolVar(&f.acceptDataLoss, "accept-data-loss", false, "start a node whose datastore lost acknowledged writes without its peers, under a new NodeId (with TLS, a new certificate)")
	fl.StringVar(&f.shutdownTimeout, "shutdown-timeout", "30s", "bound on a graceful shutdown")
	fl.StringVar(&f.cpuProfile, "cpu-profile", "", "write a Go CPU profile (pprof) of the whole run to this file")
	fl.StringVar(&f.memProfile, "mem-profile", "", "write a Go heap profile (pprof) to this file at shutdown, before the node closes")
	f.prints = map[numax.Type]*[]string{}
	for _, p := range printFlags {
		v := new([]string)
		f.prints[p.t] = v
		fl.StringArrayVar(v, p.name, nil, "after settling, print this "+p.t.String()+" as `K = value` (repeatable)")
	}
	return cmd, f
}

// effective merges defaults < --config file < NX_* environment < the flags
// that were set, and validates the result.
func (f *runFlags) effective(cmd *cobra.Command) (config.Config, error) {
	c := config.Default()
	if f.configFile != "" {
		var err error
		if c, err = config.Load(f.configFile); err != nil {
			return c, err
		}
	}
	if err := c.ApplyEnv(os.LookupEnv); err != nil {
		return c, usagef("%v", err)
	}
	changed := cmd.Flags().Changed
	var err error
	parseDur := func(flag, v string, dst *config.Duration) {
		if err == nil && changed(flag) {
			var d time.Duration
			if d, err = config.ParseDuration(v); err != nil {
				err = usagef("--%s: %v", flag, err)
			}
			*dst = config.Duration(d)
		}
	}
	parseDur("sync-interval", f.syncInterval, &c.Storage.SyncInterval)
	parseDur("guest-timeout", f.guestTimeout, &c.Limits.GuestTimeout)
	if err == nil && changed("guest-memory") {
		var n uint64
		if n, err = config.ParseSize(f.guestMemory); err != nil {
			err = usagef("--guest-memory: %v", err)
		}
		c.Limits.GuestMemory = config.Size(n)
	}
	if err != nil {
		return c, err
	}
	str := func(flag, v string, dst *string) {
		if changed(flag) {
			*dst = v
		}
	}
	str("datastore-path", f.datastorePath, &c.Storage.DatastorePath)
	str("sync", f.sync, &c.Storage.Sync)
	str("compile-cache", f.compileCache, &c.Storage.CompileCache)
	str("log-level", f.log.level, &c.Observability.LogLevel)
	str("log-format", f.log.format, &c.Observability.LogFormat)
	str("observability-listen", f.obsListen, &c.Observability.Listen)
	str("http", f.httpListen, &c.Serve.HTTPListen)
	str("listen", f.listen, &c.Network.Listen)
	str("tls-cert", f.tlsCert, &c.TLS.Cert)
	str("tls-key", f.tlsKey, &c.TLS.Key)
	str("tls-ca", f.tlsCA, &c.TLS.CA)
	str("discovery", f.discovery, &c.Discovery.Mode)
	str("gossip-listen", f.gossipListen, &c.Discovery.Listen)
	str("peers-file", f.peersFile, &c.Discovery.PeersFile)
	if changed("seed") {
		c.Discovery.Seeds = f.seeds
	}
	if f.log.verbose && c.Observability.LogLevel != "trace" {
		c.Observability.LogLevel = "debug"
	}
	if changed("peer") {
		c.Network.Peers = f.peers
	}
	if changed("allowed-peers") {
		c.TLS.AllowedPeers = f.allowedPeers
	}
	if changed("tls-insecure") {
		c.TLS.Insecure = f.tlsInsecure
	}
	if changed("adopt-identity") {
		c.TLS.AdoptIdentity = f.adoptIdentity
	}
	if changed("debug-protocol") && f.debugProtocol {
		c.Network.SerializationFormat = "json"
	}
	if c.Network.Listen == "" {
		needSync := []string{"peer", "discovery", "gossip-listen", "seed", "peers-file", "wait-before-run", "settle-for", "debug-protocol", "tls-cert", "tls-key",
			"tls-ca", "allowed-peers", "tls-insecure", "adopt-identity"}
		for _, p := range printFlags {
			needSync = append(needSync, p.name)
		}
		for _, name := range needSync {
			if changed(name) {
				return c, usagef("--%s needs sync: add --listen ADDR", name)
			}
		}
	}
	if err := c.Validate(); err != nil {
		// Name the flag the user typed when a flag set the bad value.
		var ce *config.Error
		if errors.As(err, &ce) {
			if flag, ok := flagOf[ce.Key]; ok && changed(flag) {
				return c, usagef("--%s: %s", flag, ce.Msg)
			}
		}
		return c, usagef("%v", err)
	}
	return c, nil
}

// flagOf maps configuration keys to the run flags that set them.
var flagOf = map[string]string{
	"storage.datastore_path": "datastore-path", "storage.sync": "sync", "storage.sync_interval": "sync-interval",
	"limits.guest_memory": "guest-memory", "limits.guest_timeout": "guest-timeout",
	"observability.log_level": "log-level", "observability.log_format": "log-format",
	"network.listen": "listen", "network.peers": "peer", "tls.allowed_peers": "allowed-peers",
	"tls.insecure": "tls-insecure", "tls.key": "tls-key",
	"discovery.mode": "discovery", "discovery.listen": "gossip-listen", "discovery.peers_file": "peers-file",
	"serve.http_listen": "http",
}

// nodeConfig turns the effective file configuration into the node's: the
// one mapping from config.Config to numax.Config (TestNodeConfigMapsEveryKey
// holds it to every key).
func nodeConfig(c config.Config, stdout, stderr io.Writer) (numax.Config, error) {
	cfg := numax.DefaultConfig()
	var err error
	lf := logFlags{level: c.Observability.LogLevel, format: c.Observability.LogFormat}
	if cfg.Logger, err = lf.newLogger(stderr); err != nil {
		return cfg, err
	}
	switch c.Storage.Sync {
	case "interval":
		cfg.Sync = numax.SyncInterval
	case "always":
		cfg.Sync = numax.SyncAlways
	default:
		return cfg, fmt.Errorf("storage.sync: unknown mode %q", c.Storage.Sync)
	}
	cfg.DatastorePath = c.Storage.DatastorePath
	cfg.SyncInterval = time.Duration(c.Storage.SyncInterval)
	cfg.MinFreeSpace = int64(c.Storage.MinFreeSpace)
	cfg.CRDTCache = int64(c.Storage.CRDTCache)
	if c.Storage.CompileCache != "" {
		cfg.CompileCache = c.Storage.CompileCache
	}
	l := c.Limits
	cfg.GuestMemory, cfg.GuestTimeout = uint64(l.GuestMemory), time.Duration(l.GuestTimeout)
	cfg.Limits = numax.Limits{
		MaxKey: uint32(l.MaxKeySize), MaxValue: uint32(l.MaxValueSize), MaxOutput: uint32(l.MaxOutputSize),
		MaxScanLimit: uint32(l.MaxScanLimit), MaxLogMessage: uint32(l.MaxLogMessageSize), MaxRandom: uint32(l.MaxRandomSize),
		MaxEventName: uint32(l.MaxEventNameSize), MaxEventPayload: uint32(l.MaxEventPayloadSize),
	}
	cfg.QueuedOpsLimit, cfg.OpLogLimit = l.QueuedOpsLimit, l.OpLogLimit
	cfg.AntiEntropyInterval = time.Duration(l.AntiEntropyInterval)
	cfg.MaxClockOffset = time.Duration(l.MaxClockOffset)
	cfg.MemberExpiry = time.Duration(l.MemberExpiry)
	cfg.PullAnswerRate = int64(l.PullAnswerRate)
	cfg.Network = numax.Network{
		Listen: c.Network.Listen, Peers: c.Network.Peers, Debug: c.Network.SerializationFormat == "json",
		TLSCert: c.TLS.Cert, TLSKey: c.TLS.Key, TLSCA: c.TLS.CA, AllowedPeers: c.TLS.AllowedPeers,
		Insecure: c.TLS.Insecure, AdoptIdentity: c.TLS.AdoptIdentity,
		MaxMessageSize: int(l.MaxMessageSize), SocketTimeout: time.Duration(l.SocketTimeoutSecs) * time.Second,
		ReconnectInitial: time.Duration(l.ReconnectInitialDelay), ReconnectMax: time.Duration(l.ReconnectMaxDelay),
		PeerDeadAfter: l.PeerDeadAfterFailures, MaxPeers: l.MaxPeers,
		Discovery: c.Discovery.Mode, GossipListen: c.Discovery.Listen, Seeds: c.Discovery.Seeds, PeersFile: c.Discovery.PeersFile,
		Fanout: c.Discovery.Fanout, Links: c.Discovery.Links, ProbeInterval: time.Duration(c.Discovery.ProbeInterval),
		PullInterval: time.Duration(c.Discovery.PullInterval),
	}
	cfg.ObservabilityListen = c.Observability.Listen
	cfg.ObservabilityTimeout = time.Duration(c.Observability.RequestTimeoutSecs) * time.Second
	cfg.ObservabilityToken = c.Observability.Token
	sv := c.Serve
	cfg.Serve = numax.Serve{
		HTTPListen: sv.HTTPListen, TLSCert: sv.TLSCert, TLSKey: sv.TLSKey, Instances: sv.Instances, Queue: sv.Queue,
		TickInterval: time.Duration(sv.TickInterval), MaxBody: int64(sv.MaxBody), EventRing: sv.EventRing, FetchAllow: sv.FetchAllow,
	}
	cfg.Stdout, cfg.Stderr = stdout, stderr
	return cfg, nil
}

func (f *runFlags) run(cmd *cobra.Command, path string, guestArgs []string, stdout, stderr io.Writer) (err error) {
	ctx := cmd.Context()
	eff, err := f.effective(cmd)
	if err != nil {
		return err
	}
	cfg, err := nodeConfig(eff, stdout, stderr)
	if err != nil {
		return err
	}
	// The process's memory target (set here, not by the embeddable node:
	// the Go runtime's limit is the process's).
	budget := membudget.Start(int64(eff.Limits.MemoryBudget), cfg.Logger)
	defer budget.Close()
	// A flag only, never a file setting: it is for one start.
	cfg.Network.AcceptDataLoss = f.acceptDataLoss
	if cfg.ShutdownTimeout, err = config.ParseDuration(f.shutdownTimeout); err != nil {
		return usagef("--shutdown-timeout: %v", err)
	}
	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			pf.Close()
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer func() { pprof.StopCPUProfile(); pf.Close() }()
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
	if f.memProfile != "" {
		// Deferred after Close's defer, so it runs first: the heap still
		// holds the node's state, store and guest.
		defer func() {
			if perr := writeHeapProfile(f.memProfile); perr != nil && err == nil {
				err = perr
			}
		}()
	}
	if cfg.GuestTimeout == 0 {
		// Without a time limit wazero does not watch the context, so a
		// running guest cannot be stopped gracefully; say so at the signal.
		stopWatch := context.AfterFunc(ctx, func() {
			cfg.Logger.Warn("guest_timeout is 0: the running guest cannot be interrupted; send the signal again to abort")
		})
		defer stopWatch()
	}
	if cfg.Network.Listen != "" && !cfg.Network.Insecure {
		// SIGHUP reloads the certificate, key, CA and allowlist (the file
		// configuration is read again); links to peers still allowed stay.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		stopHup := make(chan struct{})
		defer func() { signal.Stop(hup); close(stopHup) }()
		go func() {
			for {
				select {
				case <-hup:
					eff, err := f.effective(cmd)
					if err == nil {
						err = node.ReloadTLS(eff.TLS.AllowedPeers)
					}
					if err != nil {
						cfg.Logger.Error("SIGHUP: TLS not reloaded; keeping the current certificate and allowlist", "err", err)
					}
				case <-stopHup:
					return
				}
			}
		}()
	}
	if cfg.Network.Listen != "" && wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, wait)
		node.WaitForPeers(wctx)
		cancel()
	}
	opts := numax.RunOptions{ID: path, Args: guestArgs}
	sctx, cancelServe := ctx, context.CancelFunc(func() {})
	if f.settleFor != "" {
		sctx, cancelServe = context.WithTimeout(ctx, settle)
	}
	err = node.Serve(sctx, wasm, opts, nil)
	cancelServe()
	service := !errors.Is(err, numax.ErrNotService)
	var mh *numax.MissingHandlersError
	if errors.As(err, &mh) {
		return usagef("--http: %v", err)
	}
	if !service {
		err = node.Run(ctx, wasm, opts)
	}
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
	if service {
		// Served until the signal or --settle-for.
	} else if f.settleFor != "" {
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

// writeHeapProfile writes a heap profile as of a fresh garbage collection.
func writeHeapProfile(path string) error {
	pf, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("mem profile: %w", err)
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(pf); err != nil {
		pf.Close()
		return fmt.Errorf("mem profile: %w", err)
	}
	return pf.Close()
}
