package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/numax/numax/internal/config"
)

func newConfigCmd(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Write, check and show node configuration files"}
	var out string
	var force bool
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Write a commented template with every default (stdout without --output)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if out == "" {
				_, err := io.WriteString(stdout, config.Template)
				return err
			}
			if _, err := os.Stat(out); err == nil && !force {
				return fmt.Errorf("%s exists (use --force to overwrite)", out)
			}
			if err := os.WriteFile(out, []byte(config.Template), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote %s\n", out)
			return nil
		},
	}
	initCmd.Flags().StringVarP(&out, "output", "o", "", "file to write")
	initCmd.Flags().BoolVar(&force, "force", false, "overwrite an existing file")

	var file string
	validate := &cobra.Command{
		Use:   "validate --config FILE",
		Short: "Parse and check a configuration file; errors name the file, line and key",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if file == "" {
				return usagef("validate needs --config FILE")
			}
			if _, err := config.Load(file); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s: ok\n", file)
			return nil
		},
	}
	validate.Flags().StringVar(&file, "config", "", "configuration file")

	var effective bool
	show := &cobra.Command{
		Use:   "show [--config FILE] --effective",
		Short: "Print the configuration after flags > NX_* environment > file > defaults, as valid TOML",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if !effective {
				return usagef("show prints the effective configuration: add --effective")
			}
			c := config.Default()
			if file != "" {
				var err error
				if c, err = config.Load(file); err != nil {
					return err
				}
			}
			if err := c.ApplyEnv(os.LookupEnv); err != nil {
				return err
			}
			if err := c.Validate(); err != nil {
				return err
			}
			b, err := c.Encode()
			if err != nil {
				return err
			}
			_, err = stdout.Write(b)
			return err
		},
	}
	show.Flags().StringVar(&file, "config", "", "configuration file")
	show.Flags().BoolVar(&effective, "effective", false, "apply the NX_* environment and defaults")
	cmd.AddCommand(initCmd, validate, show)
	return cmd
}
