// Command nx-bench runs Numax's load scenarios against real nx processes and
// writes JSON and Markdown reports (see bench/results). It is built beside
// nx, which runs it for `nx bench`, so that the node binary does not carry
// the harness (package perf, the TCP proxy, the Redis driver).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/numax/numax/internal/perf"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// usageError marks a mistake in the command line: exit 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return &usageError{fmt.Errorf(format, args...)} }

func main() {
	if len(os.Args) == 3 && os.Args[1] == perf.BareHTTPArg {
		// The serve scenario's baseline, in a process of its own.
		if err := perf.BareHTTP(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "nx bench: bare HTTP baseline:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := newBenchCmd(stdout, stderr)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err != nil && strings.Contains(err.Error(), " arg(s), received ") {
		return &usageError{err}
	}
	return err
}

// exitCode prints err as one line ("nx bench: ...") and returns 0, 1, or 2
// for usage errors.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	msg, _, _ := strings.Cut(err.Error(), "\n")
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "nx bench: %s\nRun 'nx bench --help' for usage.\n", msg)
		return 2
	}
	fmt.Fprintf(stderr, "nx bench: %s\n", msg)
	return 1
}

// findNX returns the nx binary beside this one, else the one on PATH.
func findNX() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "nx")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	if p, err := exec.LookPath("nx"); err == nil {
		return p, nil
	}
	return "", usagef("no nx binary beside nx-bench or on PATH: pass --nx PATH (make build builds both)")
}

// commandLine is the command as the user typed it, for the reports: "nx
// bench" and the arguments, without the --nx that nx adds.
func commandLine(args []string) string {
	out := []string{"nx", "bench"}
	for i := 0; i < len(args); i++ {
		switch {
		case args[i] == "--nx" && i+1 < len(args):
			i++
		case strings.HasPrefix(args[i], "--nx="):
		default:
			out = append(out, args[i])
		}
	}
	return strings.Join(out, " ")
}
