package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/defaults"
	"github.com/numax/numax/internal/replica"
	"github.com/numax/numax/internal/store"
)

// newInspectCmd reads a stopped node's datastore. It opens it read-only
// (never writes) and refuses one a running node holds.
func newInspectCmd(stdout io.Writer) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "inspect",
		Short: "Read a stopped node's data: guest keys, CRDT values, version vector, op log",
	}
	cmd.PersistentFlags().StringVar(&dir, "datastore-path", defaults.DatastorePath, "data directory of a stopped node")
	withStore := func(f func(st *store.Store) error) error {
		st, err := store.Open(store.Config{Dir: dir, Sync: store.SyncAlways, ReadOnly: true})
		if err != nil {
			return err
		}
		defer st.Close()
		return f(st)
	}
	var prefix string
	keys := &cobra.Command{
		Use: "keys [--prefix P]", Short: "List the guest's local keys", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return withStore(func(st *store.Store) error {
				rows, err := st.Scan(store.Guest, store.ScanOptions{Prefix: []byte(prefix), KeysOnly: true})
				for _, r := range rows {
					fmt.Fprintln(stdout, strconv.Quote(string(r.Key)))
				}
				return err
			})
		},
	}
	keys.Flags().StringVar(&prefix, "prefix", "", "only keys starting with this")
	get := &cobra.Command{
		Use: "get KEY", Short: "Print a guest key's value", Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return withStore(func(st *store.Store) error {
				v, err := st.Get(store.Guest, []byte(args[0]))
				if err != nil {
					return fmt.Errorf("key %q: %w", args[0], err)
				}
				fmt.Fprintln(stdout, strconv.Quote(string(v)))
				return nil
			})
		},
	}
	crdtCmd := &cobra.Command{Use: "crdt", Short: "List and print replicated CRDT values"}
	list := &cobra.Command{
		Use: "list", Short: "List every CRDT as TYPE KEY", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return withStore(func(st *store.Store) error {
				return replica.ListObjects(st, func(k crdt.ObjKey) { fmt.Fprintf(stdout, "%s %s\n", k.Type, k.Key) })
			})
		},
	}
	cget := &cobra.Command{
		Use: "get TYPE KEY", Short: "Print a CRDT as --print-* does (TYPE: gcounter, pncounter, lww-register, lww-map, orset, rga, text)",
		Args: cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			t, err := crdt.ParseType(args[0])
			if err != nil {
				return usagef("%v", err)
			}
			return withStore(func(st *store.Store) error {
				obj, err := replica.LoadObject(st, crdt.ObjKey{Type: t, Key: args[1]})
				if err != nil {
					return err
				}
				fmt.Fprintln(stdout, crdt.Format(t, args[1], obj))
				return nil
			})
		},
	}
	crdtCmd.AddCommand(list, cget)
	vv := &cobra.Command{
		Use: "vv", Short: "Print the version vector: ORIGIN SEQ per line", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return withStore(func(st *store.Store) error {
				vv, err := replica.ReadVV(st)
				if err != nil {
					return err
				}
				for _, o := range slices.Sorted(maps.Keys(vv)) {
					fmt.Fprintf(stdout, "%s %d\n", o, vv[o])
				}
				return nil
			})
		},
	}
	var tail int
	oplog := &cobra.Command{
		Use: "oplog [--tail N]", Short: "Print the op log (the last N entries per origin with --tail)", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return withStore(func(st *store.Store) error {
				ops, err := replica.ReadOpLog(st)
				if err != nil {
					return err
				}
				sort.SliceStable(ops, func(i, j int) bool { return ops[i].HLC < ops[j].HLC })
				if tail > 0 && len(ops) > tail {
					ops = ops[len(ops)-tail:]
				}
				for _, op := range ops {
					fmt.Fprintf(stdout, "%s %s %s %q delta=%d field=%q value=%q\n", op.ID(), op.Kind, strconv.FormatUint(op.HLC, 10), op.Key, op.Delta, op.Field, op.Value)
				}
				return nil
			})
		},
	}
	oplog.Flags().IntVar(&tail, "tail", 0, "only the last N entries")
	cmd.AddCommand(keys, get, crdtCmd, vv, oplog)
	return cmd
}
