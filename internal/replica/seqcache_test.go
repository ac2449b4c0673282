package replica

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/testutil"
)

// typeText types n characters into text key, one insert each at the end
// (from 'a'+shift on), and returns them.
func typeText(t *testing.T, r *Replica, key string, shift, n int) string {
	var sb strings.Builder
	for j := range n {
		c := string(rune('a' + (shift+j)%26))
		write(t, r, &crdt.Op{Kind: crdt.TextInsert, Key: key, Value: []byte(c), At: &crdt.TextPos{Index: uint64(j)}})
		sb.WriteString(c)
	}
	return sb.String()
}

// TestSeqs_UnloadedPastTheCache: Texts and RGAs written past crdt_cache
// are unloaded once unused for a second, least recently used first, and
// read again whole, unchanged, when used (a read, an edit by position); a
// start reads none of them until one is used.
func TestSeqs_UnloadedPastTheCache(t *testing.T) {
	const docs, chars = 40, 100
	dir := t.TempDir()
	st := openStore(t, dir)
	const cache = 32 << 10
	r := openReplica(t, Config{Store: st, CRDTCache: cache})
	want := map[string]string{}
	for i := range docs {
		key := fmt.Sprintf("doc%02d", i)
		typed := typeText(t, r, key, i, chars)
		want[key] = typed
		write(t, r, &crdt.Op{Kind: crdt.RGAInsert, Key: key, Value: []byte(key)})
	}
	resident := func() (n int, bytes int64) {
		r.mu.Lock()
		defer r.mu.Unlock()
		var sum int64
		for k, obj := range r.state.Objects {
			if seqType(k.Type) {
				n++
				sum += memBytes(obj)
			}
		}
		if sum != r.seqs.total {
			t.Fatalf("the sequences in memory take %d bytes, the cache counts %d", sum, r.seqs.total)
		}
		return n, r.seqs.total + r.cache.Used
	}
	r.mu.Lock()
	last := r.state.Objects[crdt.ObjKey{Type: crdt.TypeText, Key: fmt.Sprintf("doc%02d", docs-1)}]
	r.mu.Unlock()
	if last == nil {
		t.Fatal("the text written last is not in memory: a sequence used in the last second stays")
	}
	testutil.Eventually(t, 20*time.Second, "sequences unloaded down to the cache", func() bool {
		write(t, r, &crdt.Op{Kind: crdt.GCounterInc, Key: "tick", Delta: 1}) // a commit: trim runs
		_, b := resident()
		return b <= cache
	})
	n, b := resident()
	if s := r.Stats(); s.SeqUnloads == 0 || n >= 2*docs {
		t.Fatalf("%d sequences (%d bytes) left in memory, %d unloaded", n, b, s.SeqUnloads)
	}
	t.Logf("%d of %d sequences in memory, %d bytes of %d", n, 2*docs, b, cache)
	read := func(r *Replica, key string) string {
		var got string
		r.Read(crdt.ObjKey{Type: crdt.TypeText, Key: key}, func(o crdt.Object) {
			if tx, ok := o.(*crdt.Text); ok {
				got = tx.String()
			}
		})
		return got
	}
	for key, w := range want {
		if got := read(r, key); got != w {
			t.Fatalf("%s read again: %q, want %q", key, got, w)
		}
	}
	if s := r.Stats(); s.SeqLoads == 0 {
		t.Fatal("no sequence loaded again")
	}
	r.Close(context.Background())
	st.Close()

	st = openStore(t, dir)
	t.Cleanup(func() { st.Close() })
	r = openReplica(t, Config{Store: st, CRDTCache: cache})
	t.Cleanup(func() { r.Close(context.Background()) })
	if n, _ := resident(); n != 0 || r.Stats().SeqLoads != 0 {
		t.Fatalf("after a start: %d sequences in memory, %d loads; want none", n, r.Stats().SeqLoads)
	}
	// An edit by position on a text not read yet lands where it would have.
	write(t, r, &crdt.Op{Kind: crdt.TextInsert, Key: "doc07", Value: []byte("XY"), At: &crdt.TextPos{Index: 3}})
	if got, w := read(r, "doc07"), want["doc07"][:3]+"XY"+want["doc07"][3:]; got != w {
		t.Fatalf("doc07 edited after a start: %q, want %q", got, w)
	}
	var elems []string
	r.Read(crdt.ObjKey{Type: crdt.TypeRGA, Key: "doc31"}, func(o crdt.Object) {
		for _, e := range o.(*crdt.RGA).Visible() {
			elems = append(elems, string(e.Value))
		}
	})
	if len(elems) != 1 || elems[0] != "doc31" {
		t.Fatalf("RGA doc31 after a start: %q", elems)
	}
	if n := r.Stats().SeqLoads; n != 2 {
		t.Fatalf("%d sequences loaded for two used, want 2", n)
	}
	resident() // the count matches what is in memory after loads and writes
	if got := r.Keys(crdt.TypeText, "", 1000); len(got) != docs {
		t.Fatalf("Keys lists %d texts, want %d (loaded or not)", len(got), docs)
	}
}

// TestSeqs_WaitingDeletesDoNotPinMemory: texts whose deletes wait for
// collection (a member that never acknowledges) are unloaded past the cache
// too, after those without; their deletes leave the epochs and are queued
// again, unchanged, when a text is read again.
func TestSeqs_WaitingDeletesDoNotPinMemory(t *testing.T) {
	const docs, chars = 30, 100
	const cache = 32 << 10
	const p = "1111111111111111111111111111111a"
	r, _ := recorded(t, Config{CRDTCache: cache}, p)
	// p speaks (a member now) and never acknowledges anything.
	if err := r.Handle(p, &Message{Kind: Ack, VV: map[string]uint64{}}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := range docs {
		key := fmt.Sprintf("doc%02d", i)
		typed := typeText(t, r, key, i, chars)
		write(t, r, &crdt.Op{Kind: crdt.TextDelete, Key: key, At: &crdt.TextPos{Index: 10, Count: 5}})
		want[key] = typed[:10] + typed[15:]
	}
	waiting := r.GC().Pending
	if waiting == 0 {
		t.Fatal("no delete waiting for collection")
	}
	testutil.Eventually(t, 20*time.Second, "texts with waiting deletes unloaded down to the cache", func() bool {
		write(t, r, &crdt.Op{Kind: crdt.GCounterInc, Key: "tick", Delta: 1})
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.seqs.total+r.cache.Used <= cache
	})
	if got := r.GC().Pending; got >= waiting {
		t.Fatalf("%d deletes waiting after the unloads, %d before: the unloaded texts still count", got, waiting)
	}
	before := r.GC().Pending
	var text string
	r.Read(crdt.ObjKey{Type: crdt.TypeText, Key: "doc00"}, func(o crdt.Object) { text = o.(*crdt.Text).String() })
	if text != want["doc00"] {
		t.Fatalf("doc00 read again: %q, want %q", text, want["doc00"])
	}
	if got := r.GC().Pending; got <= before {
		t.Fatalf("reading doc00 again queued none of its deletes (%d waiting, %d before)", got, before)
	}
}
