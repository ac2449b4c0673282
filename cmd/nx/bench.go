package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/numax/numax/internal/perf"
)

func newBenchCmd(stdout io.Writer) *cobra.Command {
	var profile, reportDir, baselineDir, goGuest, cGuest string
	cmd := &cobra.Command{
		Use:   "bench SCENARIO... [--profile smoke|full] [--report-dir DIR] [--baseline-dir DIR]",
		Short: "Run load scenarios (store, crdt-local, startup) and write JSON + Markdown reports",
		Long: "Each scenario writes DIR/SCENARIO.json (schema-versioned, with machine, Go version,\n" +
			"revision, profile and command) and DIR/SCENARIO.md. With --baseline-dir, a throughput\n" +
			"more than 10% below or a latency more than 20% above the baseline's fails the run.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, ok := perf.Profiles[profile]
			if !ok {
				return usagef("--profile %q: want smoke or full", profile)
			}
			for _, s := range args {
				switch s {
				case "store", "crdt-local":
				case "startup":
					if goGuest == "" || cGuest == "" {
						return usagef("startup needs --go-guest and --c-guest")
					}
				default:
					return usagef("unknown scenario %q: want store, crdt-local or startup", s)
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
			nx, _ := os.Executable()
			var regressions []string
			for _, s := range args {
				r := &perf.Report{SchemaVersion: perf.SchemaVersion, Scenario: s, Profile: p.Name,
					Command: "nx " + strings.Join(os.Args[1:], " "), StartedAt: time.Now(), Machine: perf.DescribeMachine()}
				dir := filepath.Join(work, s)
				switch s {
				case "store":
					err = perf.Store(cmd.Context(), p, r, dir)
				case "crdt-local":
					err = perf.CRDTLocal(cmd.Context(), p, r, dir)
				case "startup":
					err = perf.Startup(cmd.Context(), p, r, dir, nx, map[string]string{"go-guest": goGuest, "c-guest": cGuest})
				}
				if err != nil {
					return fmt.Errorf("scenario %s: %w", s, err)
				}
				r.Seconds = time.Since(r.StartedAt).Seconds()
				if err := r.WriteJSON(filepath.Join(reportDir, s+".json")); err != nil {
					return err
				}
				md := r.Markdown()
				if err := os.WriteFile(filepath.Join(reportDir, s+".md"), []byte(md), 0o644); err != nil {
					return err
				}
				fmt.Fprint(stdout, md+"\n")
				if baselineDir != "" {
					base, err := perf.ReadReport(filepath.Join(baselineDir, s+".json"))
					if err != nil {
						return fmt.Errorf("baseline: %w", err)
					}
					for _, reg := range perf.Regressions(r, base) {
						regressions = append(regressions, s+": "+reg)
					}
				}
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
	return cmd
}
