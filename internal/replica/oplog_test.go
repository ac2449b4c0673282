package replica

import (
	"context"
	"runtime"
	"testing"

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
