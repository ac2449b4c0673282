package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/numax/numax/internal/transport"
)

func newCertCmd(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cert",
		Short: "Make the certificates of an mTLS cluster (no OpenSSL needed)",
		Long: "nx cert ca makes a cluster CA; nx cert node makes a node certificate signed by it;\n" +
			"nx cert id prints the NodeId a certificate gives (use it in --allowed-peers).",
	}
	var dir, name string
	var days int
	var force bool
	write := func(path string, data []byte, mode os.FileMode) error {
		if !force {
			if _, err := os.Stat(path); err == nil {
				return fmt.Errorf("%s exists (use --force to overwrite)", path)
			}
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		return os.WriteFile(path, data, mode)
	}
	ca := &cobra.Command{
		Use:   "ca",
		Short: "Create a cluster CA: <dir>/ca.crt and <dir>/ca.key",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			p, err := transport.NewCA(name, time.Duration(days)*24*time.Hour)
			if err != nil {
				return err
			}
			crt, key := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
			if err := write(key, p.Key, 0o600); err != nil {
				return err
			}
			if err := write(crt, p.Cert, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote %s and %s\n", crt, key)
			return nil
		},
	}
	ca.Flags().StringVar(&dir, "dir", ".", "output directory")
	ca.Flags().StringVar(&name, "name", "numax-cluster-ca", "CA common name")
	ca.Flags().IntVar(&days, "days", 3650, "validity in days")
	ca.Flags().BoolVar(&force, "force", false, "overwrite existing files")

	var caDir, out string
	var renew bool
	node := &cobra.Command{
		Use:   "node NAME",
		Short: "Create a node certificate signed by the CA: <out>/NAME.crt and <out>/NAME.key; prints its NodeId",
		Long: "With --renew, a new certificate is issued for the existing <out>/NAME.key, so the node\n" +
			"keeps its NodeId; NAME.crt is replaced and a running node picks it up on SIGHUP or\n" +
			"when it notices the file changed.",
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			var p transport.PEMPair
			var err error
			if p.Cert, err = os.ReadFile(filepath.Join(caDir, "ca.crt")); err != nil {
				return fmt.Errorf("read CA: %w", err)
			}
			if p.Key, err = os.ReadFile(filepath.Join(caDir, "ca.key")); err != nil {
				return fmt.Errorf("read CA key: %w", err)
			}
			crt, key := filepath.Join(out, args[0]+".crt"), filepath.Join(out, args[0]+".key")
			validity := time.Duration(days) * 24 * time.Hour
			if renew {
				kb, err := os.ReadFile(key)
				if err != nil {
					return fmt.Errorf("--renew needs the node's key: %w", err)
				}
				np, id, err := transport.RenewNodeCert(p, args[0], kb, validity)
				if err != nil {
					return err
				}
				// Replace the certificate atomically: a running node may
				// read it at any moment.
				tmp := crt + ".tmp"
				if err := os.WriteFile(tmp, np.Cert, 0o644); err != nil {
					return err
				}
				if err := os.Rename(tmp, crt); err != nil {
					return err
				}
				fmt.Fprintln(stdout, id)
				return nil
			}
			np, id, err := transport.NewNodeCert(p, args[0], validity)
			if err != nil {
				return err
			}
			if err := write(key, np.Key, 0o600); err != nil {
				return err
			}
			if err := write(crt, np.Cert, 0o644); err != nil {
				return err
			}
			fmt.Fprintln(stdout, id)
			return nil
		},
	}
	node.Flags().StringVar(&caDir, "ca-dir", ".", "directory holding ca.crt and ca.key")
	node.Flags().StringVar(&out, "dir", ".", "output directory")
	node.Flags().IntVar(&days, "days", 825, "validity in days")
	node.Flags().BoolVar(&force, "force", false, "overwrite existing files")
	node.Flags().BoolVar(&renew, "renew", false, "issue a new certificate for the existing key (same NodeId)")

	id := &cobra.Command{
		Use:   "id CERT",
		Short: "Print the NodeId of a certificate",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			nid, err := transport.CertFileNodeID(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, nid)
			return nil
		},
	}
	cmd.AddCommand(ca, node, id)
	return cmd
}
