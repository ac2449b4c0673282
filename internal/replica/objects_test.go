package replica

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/store"
)

// A datastore written by the last build that stored objects whole (format
// 1, committed in testdata/format1) opens: its objects are migrated to
// per-element records once, read back exactly, and readers that do not
// migrate refuse it with a message saying how, never misread it.
func TestFormat1DatastoreMigrates(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "..", "testdata", "format1", "datastore"))); err != nil {
		t.Fatal(err)
	}
	st := openStore(t, dir)
	defer st.Close()
	if _, err := LoadObject(st, crdt.ObjKey{Type: crdt.TypeGCounter, Key: "visits"}); err == nil {
		t.Fatal("a format 1 datastore read without migrating")
	}
	want := map[crdt.ObjKey]string{
		{Type: crdt.TypeGCounter, Key: "visits"}:           "visits = 4",
		{Type: crdt.TypePNCounter, Key: "stock"}:           "stock = -6",
		{Type: crdt.TypeLWWRegister, Key: "status"}:        "status = online",
		{Type: crdt.TypeLWWMap, Key: "settings"}:           "settings = {theme=dark}",
		{Type: crdt.TypeORSet, Key: "tags"}:                "tags = [wasm]",
		{Type: crdt.TypeRGA, Key: "doc"}:                   "doc = [line1, line2]",
		{Type: crdt.TypeText, Key: "never-written"}:        `never-written = ""`,
		{Type: crdt.TypeGCounter, Key: "not-there-either"}: "not-there-either = 0",
	}
	for round := range 2 { // migrated, then opened as format 2
		r := openReplica(t, Config{Store: st})
		if vv := r.VV(); len(vv) != 1 || vv["b77ad588cd8d3e6ffce71751d1115da6"] != uint64(20+round) {
			t.Fatalf("round %d: vector %v", round, vv)
		}
		for k, w := range want {
			var got string
			r.Read(k, func(o crdt.Object) { got = crdt.Format(k.Type, k.Key, o) })
			if got != w {
				t.Fatalf("round %d: %q, want %q", round, got, w)
			}
		}
		// The op log moved out of Pebble's key space with every entry.
		if ops, err := ReadOpLog(st); err != nil || len(ops) != 20+round {
			t.Fatalf("round %d: %d ops in the log (%v), want %d", round, len(ops), err, 20+round)
		}
		if n, err := st.CountKeys(store.OpLog); err != nil || n != 0 {
			t.Fatalf("round %d: %d keys left in the format 2 op log (%v)", round, n, err)
		}
		write(t, r, &crdt.Op{Kind: crdt.GCounterInc, Key: "visits", Delta: 1})
		want[crdt.ObjKey{Type: crdt.TypeGCounter, Key: "visits"}] = []string{"visits = 5", "visits = 6"}[round]
		r.Close(context.Background())
	}
	obj, err := LoadObject(st, crdt.ObjKey{Type: crdt.TypeRGA, Key: "doc"})
	if err != nil || crdt.Format(crdt.TypeRGA, "doc", obj) != "doc = [line1, line2]" {
		t.Fatalf("inspect's reader after the migration: %v", err)
	}
	var n int
	if err := ListObjects(st, func(crdt.ObjKey) { n++ }); err != nil || n != 6 {
		t.Fatalf("%d objects listed (%v), want 6", n, err)
	}
}

// A datastore of the last build that kept the op log in Pebble (format 2,
// committed in testdata/format2) opens: its op log moves to the segment
// files whole, the vector keeps what the log's last entries stood for,
// and nx inspect's readers refuse it until then, never misread it.
func TestFormat2DatastoreMigrates(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "..", "testdata", "format2", "datastore"))); err != nil {
		t.Fatal(err)
	}
	const origin = "96369405a6202c58caeb45843c67e175"
	st := openStore(t, dir)
	if _, err := ReadOpLog(st); err == nil {
		t.Fatal("a format 2 op log read without migrating")
	}
	if n, err := st.CountKeys(store.OpLog); err != nil || n != 23 {
		t.Fatalf("the fixture holds %d op-log keys (%v), want 23", n, err)
	}
	for round := range 2 { // migrated, then opened as format 3
		r := openReplica(t, Config{Store: st})
		if vv := r.VV(); len(vv) != 1 || vv[origin] != uint64(23+round) {
			t.Fatalf("round %d: vector %v", round, vv)
		}
		ops, err := ReadOpLog(st)
		if err != nil || len(ops) != 23+round {
			t.Fatalf("round %d: %d ops in the log (%v), want %d", round, len(ops), err, 23+round)
		}
		for i, op := range ops {
			if op.Origin != origin || op.Seq != uint64(i+1) {
				t.Fatalf("round %d: entry %d is %d@%s", round, i, op.Seq, op.Origin)
			}
		}
		if n, err := st.CountKeys(store.OpLog); err != nil || n != 0 {
			t.Fatalf("round %d: %d keys left in the format 2 op log (%v)", round, n, err)
		}
		for k, w := range map[crdt.ObjKey]string{
			{Type: crdt.TypePNCounter, Key: "stock"}: "stock = -6",
			{Type: crdt.TypeRGA, Key: "doc"}:         "doc = [line1, line2]",
			{Type: crdt.TypeGCounter, Key: "visits"}: []string{"visits = 4", "visits = 5"}[round],
		} {
			var got string
			r.Read(k, func(o crdt.Object) { got = crdt.Format(k.Type, k.Key, o) })
			if got != w {
				t.Fatalf("round %d: %q, want %q", round, got, w)
			}
		}
		write(t, r, &crdt.Op{Kind: crdt.GCounterInc, Key: "visits", Delta: 1})
		r.Close(context.Background())
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		st = openStore(t, dir)
	}
	st.Close()
}

// TestFormat3DatastoreMigrates opens a datastore marked format 3 (the
// layout before views: the same records, no View space): the marker moves
// to 4 and every object, the vector and the log read as before.
func TestFormat3DatastoreMigrates(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	r := openReplica(t, Config{Store: st})
	write(t, r, &crdt.Op{Kind: crdt.GCounterInc, Key: "visits", Delta: 2})
	write(t, r, &crdt.Op{Kind: crdt.TextInsert, Key: "doc", Value: []byte("hello"), At: &crdt.TextPos{}})
	vv := r.VV()
	r.Close(context.Background())
	if _, err := st.Set(store.Meta, metaCRDTFormat, uvarint(3)); err != nil {
		t.Fatal(err)
	}
	r = openReplica(t, Config{Store: st})
	defer r.Close(context.Background())
	if f, err := readFormat(st); err != nil || f != CRDTFormat || CRDTFormat != 4 {
		t.Fatalf("format %d (%v) after opening a format 3 datastore, want %d = 4", f, err, CRDTFormat)
	}
	if got := r.VV(); len(got) != 1 || got[r.NodeID()] != vv[r.NodeID()] {
		t.Fatalf("vector %v, want %v", got, vv)
	}
	if s, err := r.SliceText("doc", 0, 10); err != nil || s != "hello" || gcounter(r, "visits") != 2 {
		t.Fatalf("after migrating: text %q (%v), counter %d", s, err, gcounter(r, "visits"))
	}
	if ops, err := ReadOpLog(st); err != nil || len(ops) != 2 {
		t.Fatalf("%d ops in the log (%v), want 2", len(ops), err)
	}
}

func TestNewerFormatRefused(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	r := openReplica(t, Config{Store: st})
	r.Close(context.Background())
	if _, err := st.Set(store.Meta, metaCRDTFormat, uvarint(CRDTFormat+1)); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Config{Store: st})
	var fe *FormatError
	if !errors.As(err, &fe) || fe.Found != CRDTFormat+1 {
		t.Fatalf("err = %v, want a FormatError", err)
	}
}

// With a cache far smaller than the maps and sets (elements evicted after
// nearly every write and read back from the store), a cluster writing at
// random under message faults, with a node restarted, converges exactly,
// and the memory counted for resident elements stays near the bound.
func TestCluster_ConvergesWithATinyCRDTCache(t *testing.T) {
	const limit = 2048
	c := newCluster(t, 3, Config{AntiEntropyInterval: 100 * time.Millisecond, CRDTCache: limit})
	c.net.SetFaults(0.1, 0.1, 2*time.Millisecond)
	for round := range 2 {
		var wg sync.WaitGroup
		for i, r := range c.nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(i), uint64(round)))
				for range 300 {
					op := randomOp(rng, r)
					if rng.IntN(2) == 0 { // more fields and elements than fit
						op = &crdt.Op{Kind: crdt.LWWMapSet, Key: "m", Field: []byte(fmt.Sprint("f", rng.IntN(200))), Value: []byte("v")}
						if rng.IntN(3) == 0 {
							op = &crdt.Op{Kind: crdt.ORSetAdd, Key: "s", Field: []byte(fmt.Sprint("e", rng.IntN(200)))}
						}
					}
					_, err := r.Write(context.Background(), op, nil)
					if err != nil && !errors.Is(err, ErrNoop) && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrBackpressure) {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if round == 0 {
			c.stop(1)
			c.start(1)
		}
	}
	c.net.SetFaults(0, 0, 0)
	c.awaitConvergence("with a tiny cache")
	var fields, elems int
	c.nodes[0].Read(crdt.ObjKey{Type: crdt.TypeLWWMap, Key: "m"}, func(o crdt.Object) { f, _ := o.(*crdt.LWWMap).Entries(); fields = len(f) })
	c.nodes[0].Read(crdt.ObjKey{Type: crdt.TypeORSet, Key: "s"}, func(o crdt.Object) { elems = len(o.(*crdt.ORSet).Elements()) })
	if fields < 150 || elems < 100 {
		t.Fatalf("the test wrote too little to exercise eviction: %d fields, %d elements", fields, elems)
	}
	t.Logf("converged: %d fields, %d elements, local ops %v", fields, elems, []uint64{c.nodes[0].Stats().LocalOps, c.nodes[1].Stats().LocalOps, c.nodes[2].Stats().LocalOps})
	for i, r := range c.nodes {
		r.mu.Lock()
		used := r.cache.Used
		r.mu.Unlock()
		if used > 2*limit {
			t.Fatalf("node %d holds %d bytes of map and set elements, bound %d", i, used, limit)
		}
	}
}
