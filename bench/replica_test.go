package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/replica"
	"github.com/numax/numax/internal/store"
)

func openReplicaB(b *testing.B, mode store.SyncMode, t replica.Transport) (*replica.Replica, *store.Store) {
	b.Helper()
	sc := store.DefaultConfig(b.TempDir())
	sc.Sync = mode
	st, err := store.Open(sc)
	if err != nil {
		b.Fatal(err)
	}
	r, err := replica.Open(replica.Config{Store: st, Transport: t})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close(context.Background()); st.Close() })
	return r, st
}

// BenchmarkCRDTLocalWrite: local counter writes (state + op log + vector +
// clock in one atomic batch) against raw Pebble batches of the same four
// writes and sizes, NoSync, in the same run. Target: >= 200k writes/s.
func BenchmarkCRDTLocalWrite(b *testing.B) {
	n := max(b.N, 10000)
	r, _ := openReplicaB(b, store.SyncInterval, nil)
	ctx := context.Background()
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, err := r.Write(ctx, &crdt.Op{Kind: crdt.GCounterInc, Key: "visits", Delta: 1}, nil); err != nil {
			b.Fatal(err)
		}
	}
	local := time.Since(start)

	db, err := pebble.Open(filepath.Join(b.TempDir(), "raw"), &pebble.Options{FormatMajorVersion: pebble.FormatNewest, Logger: quietLogger{}})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	state := make([]byte, 45)  // a one-slot GCounter
	logVal := make([]byte, 50) // an encoded op
	logKey := make([]byte, 41) // 'o' + origin + seq
	start = time.Now()
	for i := 0; i < n; i++ {
		bt := db.NewBatch()
		binary.BigEndian.PutUint64(logKey[33:], uint64(i))
		bt.Set([]byte("c\x01visits"), state, nil)
		bt.Set(logKey, logVal, nil)
		bt.Set([]byte("va0123456789abcdef0123456789abcdef"), []byte{1, 2, 3}, nil)
		bt.Set([]byte("mhlc"), []byte{1, 2, 3, 4, 5, 6, 7, 8}, nil)
		if err := db.Apply(bt, pebble.NoSync); err != nil {
			b.Fatal(err)
		}
		bt.Close()
	}
	raw := time.Since(start)
	b.ReportMetric(float64(n)/local.Seconds(), "crdt-writes/s")
	b.ReportMetric(float64(n)/raw.Seconds(), "raw-batches/s")
	b.ReportMetric(raw.Seconds()/local.Seconds(), "crdt/raw")
}

// discard is a transport with one peer that drops what it is sent.
type discard struct{}

func (discard) Send(string, *replica.Message) error { return nil }
func (discard) Peers() []string                     { return []string{"ffffffffffffffffffffffffffffffff"} }

// BenchmarkCRDTRemoteApply: a peer applying 1024-op PushOps batches
// (exactly-once check, state, op log, vector: one store batch each).
func BenchmarkCRDTRemoteApply(b *testing.B) {
	n := max(b.N, 10240)
	r, _ := openReplicaB(b, store.SyncInterval, discard{})
	origin := "0123456789abcdef0123456789abcdef"
	var batches [][]*crdt.Op
	for i := 0; i < n; i += 1024 {
		var ops []*crdt.Op
		for j := i; j < min(i+1024, n); j++ {
			ops = append(ops, &crdt.Op{Origin: origin, Seq: uint64(j + 1), HLC: uint64(j + 1), Kind: crdt.GCounterInc, Key: fmt.Sprint("k", j%16), Delta: 1})
		}
		batches = append(batches, ops)
	}
	b.ResetTimer()
	start := time.Now()
	for _, ops := range batches {
		if err := r.Handle(origin, &replica.Message{Kind: replica.PushOps, Ops: ops}); err != nil {
			b.Fatal(err)
		}
	}
	el := time.Since(start)
	b.StopTimer()
	if got := r.VV()[origin]; got != uint64(n) {
		b.Fatalf("applied %d of %d", got, n)
	}
	b.ReportMetric(float64(n)/el.Seconds(), "remote-ops/s")
}

// BenchmarkCRDTMemory: heap held by the replica after 1M counter ops, on one
// key and spread over 1000 keys (the op log is on disk, not in memory).
func BenchmarkCRDTMemory(b *testing.B) {
	for _, keys := range []int{1, 1000} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			const ops = 1_000_000
			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			r, _ := openReplicaB(b, store.SyncInterval, nil)
			ctx := context.Background()
			for i := 0; i < ops; i++ {
				if _, err := r.Write(ctx, &crdt.Op{Kind: crdt.GCounterInc, Key: fmt.Sprint("k", i%keys), Delta: 1}, nil); err != nil {
					b.Fatal(err)
				}
			}
			runtime.GC()
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "heap-MiB/1M-ops")
			runtime.KeepAlive(r)
		})
	}
}

// BenchmarkCRDTLocalWriteAlways: local counter writes with sync = always
// from 8 writers at once (each returns after the fsyncs that cover it;
// concurrent writers share them).
func BenchmarkCRDTLocalWriteAlways(b *testing.B) {
	r, _ := openReplicaB(b, store.SyncAlways, nil)
	ctx := context.Background()
	b.SetParallelism(8)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.Write(ctx, &crdt.Op{Kind: crdt.GCounterInc, Key: "visits", Delta: 1}, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "writes/s")
}
