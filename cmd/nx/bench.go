package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/spf13/cobra"
)

// exitStatus is the exit code of a command nx ran on the user's behalf,
// which has already printed its own error.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// newBenchCmd runs nx-bench, the load harness built beside nx (make build),
// so the node binary carries only the runtime.
func newBenchCmd(stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:                "bench SCENARIO... [flags]",
		Short:              "Run load scenarios and write JSON + Markdown reports (runs nx-bench; nx bench --help lists them)",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("bench: %w", err)
			}
			bench := filepath.Join(filepath.Dir(self), "nx-bench")
			if _, err := os.Stat(bench); err != nil {
				if bench, err = exec.LookPath("nx-bench"); err != nil {
					return fmt.Errorf("bench: nx-bench is not beside %s nor on PATH: make build builds it (go build ./cmd/nx-bench)", self)
				}
			}
			c := exec.CommandContext(cmd.Context(), bench, append(args, "--nx", self)...)
			c.Stdin, c.Stdout, c.Stderr = os.Stdin, stdout, stderr
			err = c.Run()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				if code := ee.ExitCode(); code > 0 {
					return exitStatus(code)
				}
				return fmt.Errorf("bench: nx-bench %v", ee) // killed by a signal
			}
			return err
		},
	}
}
