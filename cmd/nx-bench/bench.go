package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/numax/numax/internal/perf"
)

// confirmed keeps the regressions of the first run whose metric also
// regressed in the second.
func confirmed(first, second []string) []string {
	name := func(r string) string { n, _, _ := strings.Cut(r, ":"); return n }
	again := map[string]bool{}
	for _, r := range second {
		again[name(r)] = true
	}
	var out []string
	for _, r := range first {
		if again[name(r)] {
			out = append(out, r)
		}
	}
	return out
}

// gossipSize parses scenario "gossip-N".
func gossipSize(s string) (int, bool) {
	v, ok := strings.CutPrefix(s, "gossip-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	return n, err == nil && n >= 2 && n <= 64
}

func newBenchCmd(stdout, stderr io.Writer) *cobra.Command {
	var profile, reportDir, baselineDir, goGuest, cGuest, writer, nodeProfiles, nx string
	var serveGuests perf.ServeGuests
	var useTLS bool
	var scaleGuest, textGuest, trace, storeGuest string
	cmd := &cobra.Command{
		Use:   "nx-bench SCENARIO... [--profile smoke|full] [--report-dir DIR] [--baseline-dir DIR]",
		Short: "Run load scenarios (store, crdt-local, crdt-scale, text, startup, sync-3, sync-10, chaos, partition, redis-compare, serve, gossip, gossip-N) and write JSON + Markdown reports",
		Long: "Each scenario writes DIR/SCENARIO.json (schema-versioned, with machine, Go version,\n" +
			"revision, profile and command) and DIR/SCENARIO.md. With --baseline-dir, a throughput\n" +
			"more than 10% below or a latency more than 20% above the baseline's fails the run.\n" +
			"It is a command of its own so that the node binary carries only the runtime;\n" +
			"`nx bench ...` runs it from beside nx.",
		Args:          cobra.MinimumNArgs(1),
		Version:       buildVersion(),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, ok := perf.Profiles[profile]
			if !ok {
				return usagef("--profile %q: want smoke or full", profile)
			}
			if nodeProfiles != "" {
				if err := os.MkdirAll(nodeProfiles, 0o755); err != nil {
					return fmt.Errorf("--node-profiles: %w", err)
				}
				p.NodeProfiles = nodeProfiles
			}
			p.TLS = useTLS
			for _, s := range args {
				kind := s
				if _, ok := gossipSize(s); ok {
					kind = "gossip"
				}
				switch kind {
				case "store":
					if storeGuest == "" {
						return usagef("store needs --store-guest (testdata/guests/dbwrite.c)")
					}
				case "crdt-local":
				case "crdt-scale":
					if scaleGuest == "" {
						return usagef("crdt-scale needs --scale-guest (testdata/guests/scalewriter)")
					}
				case "text":
					if textGuest == "" || trace == "" {
						return usagef("text needs --text-guest (testdata/guests/textreplay) and --trace (a trace of ../shared/traces)")
					}
				case "startup":
					if goGuest == "" || cGuest == "" {
						return usagef("startup needs --go-guest and --c-guest")
					}
				case "serve":
					if serveGuests.C == "" || serveGuests.Go == "" || serveGuests.Counter == "" {
						return usagef("serve needs --serve-c-guest (testdata/guests/trivial_http.c), --serve-go-guest (testdata/guests/trivial_http_go) and --counter-guest (testdata/guests/counter.c)")
					}
				case "sync-3", "sync-10", "chaos", "partition", "redis-compare", "gossip":
					if writer == "" {
						return usagef("%s needs --writer-guest (testdata/guests/writer)", s)
					}
				default:
					return usagef("unknown scenario %q: want store, crdt-local, crdt-scale, text, startup, sync-3, sync-10, chaos, partition, redis-compare, serve, gossip or gossip-N (N from 2 to 64)", s)
				}
			}
			if err := os.MkdirAll(reportDir, 0o755); err != nil {
				return err
			}
			work, err := os.MkdirTemp("", "nx-bench-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(work)
			if nx == "" {
				if nx, err = findNX(); err != nil {
					return err
				}
			}
			var regressions []string
			run := func(s string) (*perf.Report, error) {
				r := &perf.Report{SchemaVersion: perf.SchemaVersion, Scenario: s, Profile: p.Name,
					Command: commandLine(os.Args[1:]), StartedAt: time.Now(), Machine: perf.DescribeMachine()}
				dir, err := os.MkdirTemp(work, s+"-")
				if err != nil {
					return nil, err
				}
				switch s {
				case "store":
					err = perf.Store(cmd.Context(), p, r, dir, nx, storeGuest)
				case "crdt-local":
					err = perf.CRDTLocal(cmd.Context(), p, r, dir)
				case "crdt-scale":
					err = perf.CRDTScale(cmd.Context(), p, r, dir, nx, scaleGuest)
				case "text":
					err = perf.TextTrace(cmd.Context(), p, r, dir, nx, textGuest, trace)
				case "startup":
					err = perf.Startup(cmd.Context(), p, r, dir, nx, map[string]string{"go-guest": goGuest, "c-guest": cGuest})
				case "sync-3":
					err = perf.Sync3(cmd.Context(), p, r, dir, nx, writer)
				case "sync-10":
					err = perf.Sync10(cmd.Context(), p, r, dir, nx, writer)
				case "chaos":
					err = perf.Chaos(cmd.Context(), p, r, dir, nx, writer)
				case "partition":
					err = perf.Partition(cmd.Context(), p, r, dir, nx, writer)
				case "redis-compare":
					err = perf.RedisCompare(cmd.Context(), p, r, dir, nx, writer)
				case "serve":
					err = perf.Serve(cmd.Context(), p, r, dir, nx, serveGuests)
				default: // gossip, gossip-N
					q := p
					if n, ok := gossipSize(s); ok {
						q.GossipSizes = []int{n}
					}
					err = perf.Gossip(cmd.Context(), q, r, dir, nx, writer)
				}
				if err != nil {
					// The CLI prints one error line; a scenario's error
					// carries the failing node's last log lines, so the whole
					// of it goes to stdout first.
					fmt.Fprintf(stdout, "scenario %s failed:\n%v\n", s, err)
					return nil, fmt.Errorf("scenario %s: %w", s, err)
				}
				r.Seconds = time.Since(r.StartedAt).Seconds()
				return r, nil
			}
			for _, s := range args {
				r, err := run(s)
				if err != nil {
					return err
				}
				var found []string
				if baselineDir != "" {
					base, err := perf.ReadReport(filepath.Join(baselineDir, s+".json"))
					if errors.Is(err, fs.ErrNotExist) {
						// A scenario without a committed baseline yet is
						// reported, not compared.
						fmt.Fprintf(stdout, "%s: no baseline in %s; not compared\n", s, baselineDir)
						r.Note("No committed baseline for this scenario: not compared.")
					} else if err != nil {
						return fmt.Errorf("baseline: %w", err)
					} else if found = perf.Regressions(r, base); len(found) > 0 {
						// Confirm on a second run: a figure counts as a
						// regression only if it regresses both times (shared
						// machines are noisy).
						fmt.Fprintf(stdout, "%s: %d figure(s) below the baseline; running it again to confirm\n", s, len(found))
						again, err := run(s)
						if err != nil {
							return err
						}
						r.Note("A confirmation run was made; a regression is reported only if both runs regress.")
						found = confirmed(found, perf.Regressions(again, base))
					}
				}
				for _, reg := range found {
					regressions = append(regressions, s+": "+reg)
				}
				if err := r.WriteJSON(filepath.Join(reportDir, s+".json")); err != nil {
					return err
				}
				md := r.Markdown()
				if err := os.WriteFile(filepath.Join(reportDir, s+".md"), []byte(md), 0o644); err != nil {
					return err
				}
				fmt.Fprint(stdout, md+"\n")
			}
			if len(regressions) > 0 {
				for _, reg := range regressions {
					fmt.Fprintln(stdout, "REGRESSION "+reg)
				}
				return fmt.Errorf("%d regression(s) against %s", len(regressions), baselineDir)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&profile, "profile", "smoke", "smoke (seconds) or full (minutes)")
	f.StringVar(&reportDir, "report-dir", "bench/results/latest", "where the reports go")
	f.StringVar(&baselineDir, "baseline-dir", "", "compare with the reports in this directory")
	f.StringVar(&goGuest, "go-guest", "", "Go guest for the startup scenario")
	f.StringVar(&cGuest, "c-guest", "", "C guest for the startup scenario")
	f.BoolVar(&useTLS, "tls", false, "run the full-mesh cluster scenarios over mTLS with certificates from nx cert (default: plain TCP)")
	f.StringVar(&nodeProfiles, "node-profiles", "", "write CPU and heap profiles of every nx process the cluster scenarios start into this directory (go tool pprof)")
	f.StringVar(&serveGuests.C, "serve-c-guest", "", "trivial C service for the serve scenario (testdata/guests/trivial_http.c)")
	f.StringVar(&serveGuests.Go, "serve-go-guest", "", "trivial Go service for the serve scenario (testdata/guests/trivial_http_go)")
	f.StringVar(&serveGuests.Counter, "counter-guest", "", "replicated counter service with POST /hit and on_change events for the serve scenario (testdata/guests/counter.c)")
	f.StringVar(&nx, "nx", "", "the nx binary the cluster scenarios start (default: nx beside this binary, then on PATH)")
	f.StringVar(&scaleGuest, "scale-guest", "", "the scalewriter guest (testdata/guests/scalewriter) for crdt-scale")
	f.StringVar(&storeGuest, "store-guest", "", "the dbwrite C guest (testdata/guests/dbwrite.c) for store: db_set as nx run gives it")
	f.StringVar(&textGuest, "text-guest", "", "the textreplay guest (testdata/guests/textreplay) for text")
	f.StringVar(&trace, "trace", "", "the editing trace (../shared/traces/*.json.gz) text replays")
	f.StringVar(&writer, "writer-guest", "", "the writer guest (testdata/guests/writer) for sync-3, sync-10, chaos, partition, redis-compare and gossip")
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	return cmd
}
