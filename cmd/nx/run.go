package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/numax/numax"
	"github.com/numax/numax/internal/config"
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
			return f.run(cmd.Context(), args[0], guestArgs, stdout, stderr)
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
	return cmd
}

func (f *runFlags) config(stdout, stderr io.Writer) (numax.Config, error) {
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
	return cfg, nil
}

func (f *runFlags) run(ctx context.Context, path string, guestArgs []string, stdout, stderr io.Writer) (err error) {
	cfg, err := f.config(stdout, stderr)
	if err != nil {
		return err
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
	err = node.Run(ctx, wasm, numax.RunOptions{ID: path, Args: guestArgs})
	var te *engine.TrapError
	if errors.As(err, &te) {
		cfg.Logger.Debug("guest trap detail", "module", path, "detail", te.Detail)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
