//go:build !wasip1

// Command tour runs the board (examples/board) on three nodes of a cluster
// on this machine and shows, step by step, what a person at the pages would
// see: a task added on node 1 appears on node 3; node 3 is cut off from the
// others (through the project's TCP proxy), both sides edit, the cut heals,
// and all three show the same board. It is `make demo`; with --serve it
// stays up for a browser until Ctrl-C (`make demo-serve`).
//
// Each node runs `nx run board.wasm` as its own process with mTLS
// certificates made by `nx cert`, its HTTP on a free 127.0.0.1 port. Node 3
// reaches nodes 1 and 2 only through cuttable proxies.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	nx := flag.String("nx", "bin/nx", "the nx binary")
	board := flag.String("board", "bin/board.wasm", "the board guest (examples/board, built for wasip1)")
	dir := flag.String("dir", "", "working directory (default: a new temporary one, removed at the end)")
	keep := flag.Bool("serve", false, "after the tour, keep the cluster up until Ctrl-C")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, *nx, *board, *dir, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "tour:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, nx, board, dir string, keep bool) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "numax-board-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	start := time.Now()
	c, err := startCluster(ctx, nx, board, dir)
	if err != nil {
		return err
	}
	defer c.stop()
	fmt.Fprintf(out, "Three nodes serve the board (mTLS, certificates from nx cert):\n")
	for i, n := range c.nodes {
		fmt.Fprintf(out, "  node %d  http://%s/   NodeId %s   (node status: http://%s/)\n", i+1, n.http, n.id, n.obs)
	}
	if err := tour(ctx, out, c); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nTour done in %.1f s.\n", time.Since(start).Seconds())
	if keep {
		fmt.Fprintf(out, "The cluster stays up: open the URLs above in a browser. Ctrl-C ends it.\n")
		<-ctx.Done()
	}
	return nil
}
