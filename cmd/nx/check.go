package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/numax/numax/internal/defaults"
	"github.com/numax/numax/internal/store"
)

// newCheckCmd verifies a stopped node's datastore offline.
func newCheckCmd(stdout io.Writer) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "check [--datastore-path D]",
		Short: "Verify a stopped node's datastore offline: every table checksum and every write-ahead log",
		Long: "Reads every block of every table and checks its checksum, and reads every write-ahead log\n" +
			"for damage followed by valid records (acknowledged writes lost). It changes nothing.\n" +
			"Each problem is one line naming the file, what is wrong and which keys it holds; the\n" +
			"exit status is 1 when there is any.",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			problems, err := store.Check(dir)
			if err != nil {
				return err
			}
			for _, p := range problems {
				fmt.Fprintln(stdout, p)
			}
			if len(problems) > 0 {
				return fmt.Errorf("datastore %s: %d problem(s)", dir, len(problems))
			}
			fmt.Fprintf(stdout, "datastore %s: every table and log checks out\n", dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "datastore-path", defaults.DatastorePath, "data directory of a stopped node")
	return cmd
}
