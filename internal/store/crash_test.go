package store

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/numax/numax/internal/testutil"
)

// The crash tests run this test binary again as a writer child (selected by
// NUMAX_STORE_CRASH_CHILD), kill it with SIGKILL in the middle of a write
// loop, reopen the datastore and check what survived.
//
// The child writes batches i = 1, 2, 3, ... each of two keys ("a"+i and
// "b"+i), prints "ack i" after Commit returns and "durable i" whenever the
// durable watermark passes a batch. After the kill:
//   - present batches form exactly 1..k: no hole, never half a batch;
//   - sync=always: k >= the last acknowledged batch;
//   - sync=interval: k >= the last batch reported durable.

func TestMain(m *testing.M) {
	if dir := os.Getenv("NUMAX_STORE_CRASH_CHILD"); dir != "" {
		crashChild(dir, os.Getenv("NUMAX_STORE_CRASH_MODE"))
		return
	}
	os.Exit(m.Run())
}

func batchKey(prefix byte, i uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefix}, i)
}

func crashChild(dir, mode string) {
	cfg := DefaultConfig(dir)
	m, err := ParseSyncMode(mode)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	cfg.Sync = m
	s, err := Open(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	w := bufio.NewWriter(os.Stdout)
	first := uint64(1)
	if rows, err := s.Scan(Guest, ScanOptions{Prefix: []byte("a"), KeysOnly: true}); err == nil {
		first = uint64(len(rows)) + 1
	}
	lastDurable := first - 1
	seqOf := map[uint64]uint64{}
	val := make([]byte, 512)
	for i := first; ; i++ {
		b := s.NewBatch()
		b.Set(Guest, batchKey('a', i), val)
		b.Set(Guest, batchKey('b', i), val)
		n, err := s.Commit(b)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		seqOf[i] = n
		fmt.Fprintf(w, "ack %d\n", i)
		d := s.DurableSeq()
		for j := lastDurable + 1; j <= i; j++ {
			if sq, ok := seqOf[j]; ok && sq <= d {
				lastDurable = j
				delete(seqOf, j)
				continue
			}
			break
		}
		fmt.Fprintf(w, "durable %d\n", lastDurable)
		// Flush on every line: the parent must only ever read claims the
		// child made before it was killed.
		w.Flush()
	}
}

func TestStore_SurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test spawns processes")
	}
	for _, mode := range []string{"always", "interval"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			for round := 0; round < 5; round++ {
				acked, durable := runAndKill(t, dir, mode, time.Duration(50+round*37)*time.Millisecond)
				k := verifyPrefix(t, dir)
				t.Logf("round %d: acked %d, reported durable %d, survived %d", round, acked, durable, k)
				if mode == "always" && k < acked {
					t.Fatalf("sync=always lost acknowledged writes: acked %d, survived %d", acked, k)
				}
				if k < durable {
					t.Fatalf("lost writes reported durable: durable %d, survived %d", durable, k)
				}
			}
		})
	}
}

func runAndKill(t *testing.T, dir, mode string, after time.Duration) (acked, durable uint64) {
	t.Helper()
	return testutil.RunAndKillCounting(t, []string{"NUMAX_STORE_CRASH_CHILD=" + dir, "NUMAX_STORE_CRASH_MODE=" + mode}, after)
}

// verifyPrefix reopens the datastore and checks that the surviving batches
// are exactly 1..k with both keys each; it returns k.
func verifyPrefix(t *testing.T, dir string) uint64 {
	t.Helper()
	s, err := Open(DefaultConfig(dir))
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s.Close()
	as, err := s.Scan(Guest, ScanOptions{Prefix: []byte("a"), KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	bs, err := s.Scan(Guest, ScanOptions{Prefix: []byte("b"), KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != len(bs) {
		t.Fatalf("half a batch survived: %d a-keys, %d b-keys", len(as), len(bs))
	}
	for i, r := range as {
		want := batchKey('a', uint64(i+1))
		if string(r.Key) != string(want) {
			t.Fatalf("hole: row %d is batch %d", i, binary.BigEndian.Uint64(r.Key[1:]))
		}
	}
	return uint64(len(as))
}
