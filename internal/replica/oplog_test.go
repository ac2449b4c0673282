package replica

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/numax/numax/internal/crdt"
)

// The op log holds op_log_limit at all times, not only at anti-entropy.
func TestReplica_OpLogLimitHoldsDuringTheRun(t *testing.T) {
	r, _ := recorded(t, Config{OpLogLimit: 1000, AntiEntropyInterval: -1}, evil)
	for i := range 25_000 {
		write(t, r, &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1})
		if n := r.Stats().OpLogEntries; n > 1000 {
			t.Fatalf("after write %d the op log holds %d entries, limit 1000", i+1, n)
		}
	}
}

// Acknowledgements prune as they arrive.
func TestReplica_AcksPrune(t *testing.T) {
	r, _ := recorded(t, Config{AntiEntropyInterval: -1}, evil)
	for range 500 {
		write(t, r, &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1})
	}
	if n := r.Stats().OpLogEntries; n != 500 {
		t.Fatalf("%d entries before any ack", n)
	}
	r.lastPrune.Store(0)
	if err := r.Handle(evil, &Message{Kind: Ack, VV: map[string]uint64{r.NodeID(): 500}}); err != nil {
		t.Fatal(err)
	}
	if n := r.Stats().OpLogEntries; n != 0 {
		t.Fatalf("%d entries after every peer acknowledged all", n)
	}
}

// A restart does not read the op log into memory: opening the store reads
// its segments for their index (where each entry is), and keeps only that,
// a few dozen bytes per entry, never the ops.
func TestReplica_RestartKeepsOnlyTheLogIndex(t *testing.T) {
	measure := func(ops int) uint64 {
		dir := t.TempDir()
		st := openStore(t, dir)
		r := openReplica(t, Config{Store: st, OpLogLimit: 1 << 30, AntiEntropyInterval: -1})
		for range ops {
			write(t, r, &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1, Value: make([]byte, 64)})
		}
		r.Close(context.Background())
		st.Close()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		st = openStore(t, dir)
		defer st.Close()
		r = openReplica(t, Config{Store: st, OpLogLimit: 1 << 30, AntiEntropyInterval: -1})
		defer r.Close(context.Background())
		runtime.GC()
		runtime.ReadMemStats(&after)
		if got := r.Stats().OpLogEntries; got != ops {
			t.Fatalf("op log count %d after restart, want %d", got, ops)
		}
		if got := gcounter(r, "c"); got != uint64(ops) {
			t.Fatalf("counter %d after restart, want %d", got, ops)
		}
		return after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc)
	}
	small, large := measure(1_000), measure(100_000)
	perEntry := float64(int64(large)-int64(small)) / 99_000
	t.Logf("held after opening: %d bytes for 1,000 entries, %d for 100,000 (%.1f bytes per entry)", small, large, perEntry)
	if perEntry > 48 {
		t.Fatalf("opening holds %.1f bytes per op-log entry (ops of ~100 bytes): the log is being read into memory", perEntry)
	}
}

// A power loss can keep Pebble's writes and lose the op log's (they are
// fsynced apart): a node whose log stops short of its vector drops that
// origin's log at start, and a peer that lacks the ops takes a snapshot,
// never a run with a hole, and converges exactly.
func TestReplica_LogShortOfTheVectorServesASnapshot(t *testing.T) {
	c := newCluster(t, 2, Config{AntiEntropyInterval: 50 * time.Millisecond})
	c.stop(1)
	for range 50 {
		write(t, c.nodes[0], &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1})
	}
	c.stop(0)
	// Lose the tail of node 0's log: its last records, as a power loss
	// would, while Pebble keeps the state and vector of all 50.
	segs, err := filepath.Glob(filepath.Join(c.dirs[0], "oplog", "*.log"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no op log segment (%v)", err)
	}
	last := segs[len(segs)-1]
	fi, err := os.Stat(last)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(last, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	c.start(0)
	origin := c.nodes[0].NodeID()
	if got := c.nodes[0].VV()[origin]; got != 50 {
		t.Fatalf("vector %d after the lost log writes, want 50", got)
	}
	if n := c.nodes[0].Stats().OpLogEntries; n != 0 {
		t.Fatalf("%d op-log entries kept of a log that stops short of the vector, want none", n)
	}
	// The peer takes a snapshot: the log's hole is not served.
	catchesUpBySnapshot(t, c, 1, 0, 50)
}
