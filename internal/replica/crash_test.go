package replica

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/store"
	"github.com/numax/numax/internal/testutil"
)

// crashChild runs origin A and peer B (separate datastores in dir/a and
// dir/b, linked in process) while A increments counter "c" by 1 per op. After
// each write it prints "ack <seq>" and "durable <seq>" (the highest acked seq
// known fsynced). It runs until killed.
func crashChild(dir, mode string) {
	m, err := store.ParseSyncMode(mode)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	open := func(sub string) *store.Store {
		cfg := store.DefaultConfig(filepath.Join(dir, sub))
		cfg.Sync = m
		st, err := store.Open(cfg)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		return st
	}
	stA, stB := open("a"), open("b")
	net := NewMemNet(1)
	idA, idB := nodeIDs(dir)
	a, err := Open(Config{Store: stA, NodeID: idA, Transport: net.Endpoint(idA)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	b, err := Open(Config{Store: stB, NodeID: idB, Transport: net.Endpoint(idB)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	net.Attach(a)
	net.Attach(b)
	w := bufio.NewWriter(os.Stdout)
	type pending struct{ seq, n uint64 }
	var waiting []pending
	for {
		id, err := a.Write(context.Background(), &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1}, nil)
		if errors.Is(err, ErrBackpressure) {
			continue
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		waiting = append(waiting, pending{id.Seq, stA.WrittenSeq()})
		d := stA.DurableSeq()
		durable := uint64(0)
		for len(waiting) > 0 && waiting[0].n <= d {
			durable = waiting[0].seq
			waiting = waiting[1:]
		}
		fmt.Fprintf(w, "ack %d\n", id.Seq)
		if durable > 0 {
			fmt.Fprintf(w, "durable %d\n", durable)
		}
		w.Flush()
	}
}

// nodeIDs returns two NodeIds fixed for dir, so restarts keep identities.
func nodeIDs(dir string) (string, string) {
	f := filepath.Join(dir, "ids")
	if b, err := os.ReadFile(f); err == nil {
		ids := strings.Fields(string(b))
		return ids[0], ids[1]
	}
	a, b := NewNodeID(), NewNodeID()
	_ = os.WriteFile(f, []byte(a+" "+b), 0o644)
	return a, b
}

func TestReplica_SurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test spawns processes")
	}
	for _, mode := range []string{"always", "interval"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			rng := rand.New(rand.NewPCG(11, 13))
			var acked, durable uint64
			for round := 0; round < 6; round++ {
				a, d := runChild(t, dir, mode, time.Duration(20+rng.IntN(150))*time.Millisecond)
				acked, durable = max(acked, a), max(durable, d)
				survived := checkAfterCrash(t, dir)
				t.Logf("round %d: acked %d, durable %d, origin kept %d", round, a, d, survived)
				if mode == "always" && survived < acked {
					t.Fatalf("sync=always lost acknowledged ops: acked %d, kept %d", acked, survived)
				}
				if survived < durable {
					t.Fatalf("lost ops reported durable: durable %d, kept %d", durable, survived)
				}
				// What was lost is gone for good: the next run continues
				// from what survived (and reuses the lost seqs, never sent).
				acked, durable = survived, survived
			}
		})
	}
}

func runChild(t *testing.T, dir, mode string, after time.Duration) (acked, durable uint64) {
	t.Helper()
	return testutil.RunAndKillCounting(t, []string{"NUMAX_REPLICA_CRASH_CHILD=" + dir, "NUMAX_REPLICA_CRASH_MODE=" + mode}, after)
}

// checkAfterCrash reopens both datastores and checks: no op applied twice on
// either (counter == vector), B holds nothing A lost, and after reconnecting
// both converge to exactly A's surviving ops. It returns A's surviving seq.
func checkAfterCrash(t *testing.T, dir string) uint64 {
	t.Helper()
	idA, idB := nodeIDs(dir)
	stA, stB := openStore(t, filepath.Join(dir, "a")), openStore(t, filepath.Join(dir, "b"))
	defer stA.Close()
	defer stB.Close()
	net := NewMemNet(2)
	defer net.Close()
	a := openReplica(t, Config{Store: stA, NodeID: idA, Transport: net.Endpoint(idA)})
	b := openReplica(t, Config{Store: stB, NodeID: idB, Transport: net.Endpoint(idB)})
	defer a.Close(context.Background())
	defer b.Close(context.Background())
	kept, seenByB := a.VV()[idA], b.VV()[idA]
	if got := gcounter(a, "c"); got != kept {
		t.Fatalf("origin counts %d for %d ops: an op was applied twice or lost from state", got, kept)
	}
	if got := gcounter(b, "c"); got != seenByB {
		t.Fatalf("peer counts %d for %d ops", got, seenByB)
	}
	if seenByB > kept {
		t.Fatalf("peer holds ops up to %d but the origin kept only %d: an op left before it was durable", seenByB, kept)
	}
	net.Attach(a)
	net.Attach(b)
	testutil.Eventually(t, 20*time.Second, "convergence after restart", func() bool {
		a.AntiEntropy()
		b.AntiEntropy()
		return bytes.Equal(a.Digest(), b.Digest())
	})
	if got := gcounter(b, "c"); got != kept {
		t.Fatalf("after convergence the peer counts %d, origin kept %d", got, kept)
	}
	return kept
}
