package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
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

// usageError marks a mistake in the command line: exit 2 with a hint.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// exitCode prints err as one line on stderr and returns the process exit
// code: 0 on success, 2 for usage errors, 1 otherwise.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var es exitStatus
	if errors.As(err, &es) {
		return int(es) // the command that failed has printed why
	}
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "nx: %s\nRun 'nx --help' for usage.\n", msg)
		return 2
	}
	fmt.Fprintf(stderr, "nx: %s\n", msg)
	return 1
}

// run executes the nx command line. The first SIGINT or SIGTERM cancels ctx
// (a graceful stop); a second one kills the process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // restore default handling: the next signal aborts
	}()
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil && (strings.HasPrefix(err.Error(), "unknown command ") || strings.Contains(err.Error(), " arg(s), received ")) {
		return &usageError{err} // cobra's own command-line errors
	}
	return err
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "nx",
		Short: "Numax: run a WebAssembly guest next to its datastore",
		Long: "Numax runs one WebAssembly module in a sandbox next to an embedded datastore.\n" +
			"See https://github.com/numax/numax for the host ABI and examples.",
		Version:       buildVersion(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	root.AddCommand(newRunCmd(stdout, stderr), newCertCmd(stdout), newConfigCmd(stdout), newInspectCmd(stdout), newCheckCmd(stdout), newBenchCmd(stdout, stderr))
	return root
}
