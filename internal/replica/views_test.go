package replica

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/seqview"
	"github.com/numax/numax/internal/store"
	"github.com/numax/numax/internal/testutil"
	"pgregory.net/rapid"
)

// seedSeq writes a Text (or an RGA) of n elements typed one after another
// by origin, with every seventh deleted, as Seed does for the benchmarks,
// and returns its visible content.
// viewSeeded is a sequence seedSeq makes large enough to leave a view
// (about 5 MB in memory, past viewMinBytes).
const viewSeeded = 25000

func seedSeq(t *testing.T, st *store.Store, k crdt.ObjKey, n int) []string {
	t.Helper()
	origin := strings.Repeat("e", 32)
	obj := crdt.New(k.Type)
	var prev crdt.OpID
	seq := uint64(0)
	for i := range n {
		seq++
		op := &crdt.Op{Origin: origin, Seq: seq, HLC: 1<<40 + seq, Key: k.Key, Ref: prev, Value: []byte(string(rune('a' + i%26)))}
		op.Kind = crdt.TextInsert
		if k.Type == crdt.TypeRGA {
			op.Kind = crdt.RGAInsert
		}
		prev = op.ID()
		obj.Apply(op)
	}
	for i := 0; i < n; i += 7 {
		seq++
		op := &crdt.Op{Origin: origin, Seq: seq, HLC: 1<<40 + seq, Key: k.Key}
		id := crdt.OpID{Origin: origin, Seq: uint64(i + 1)}
		if k.Type == crdt.TypeRGA {
			op.Kind, op.Ref = crdt.RGADelete, id
		} else {
			op.Kind = crdt.TextDelete
			op.SetTextRanges([]crdt.TextRange{{Run: id, N: 1}})
		}
		obj.Apply(op)
	}
	if err := Seed(st, k, obj, origin, seq); err != nil {
		t.Fatal(err)
	}
	return visible(obj)
}

func visible(obj crdt.Object) []string {
	var out []string
	switch o := obj.(type) {
	case *crdt.Text:
		for _, r := range o.String() {
			out = append(out, string(r))
		}
	case *crdt.RGA:
		for _, v := range o.Slice(0, uint64(o.Len())) {
			out = append(out, string(v))
		}
	}
	return out
}

func viewStored(t *testing.T, st *store.Store, k crdt.ObjKey) bool {
	t.Helper()
	ok, err := st.Exists(store.View, viewKey(k, seqview.DirSub))
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestViews_EditALargeSequenceWithoutReadingItWhole seeds a 30,000-character
// Text and a 30,000-element RGA as a node leaves them at Close, then, on a
// fresh replica: reads pages and lengths, types and deletes at random
// places in the Text and inserts at the head of the RGA, all without
// reading either whole (no load), each answer checked against a model. The
// stored view is gone from the first write (a crash now reads the records,
// which hold every edit), and back after Close; a second start reads the
// same through the view, and reading the sequences whole gives it too.
func TestViews_EditALargeSequenceWithoutReadingItWhole(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	defer st.Close()
	kt := crdt.ObjKey{Type: crdt.TypeText, Key: "doc"}
	kl := crdt.ObjKey{Type: crdt.TypeRGA, Key: "log"}
	text := seedSeq(t, st, kt, 30000)
	list := seedSeq(t, st, kl, 30000)
	if !viewStored(t, st, kt) || !viewStored(t, st, kl) {
		t.Fatal("Seed left no view of a 30,000-element sequence")
	}
	r := openReplica(t, Config{Store: st})
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(r *Replica, what string) {
		t.Helper()
		if n := r.TextLen(kt.Key); n != len(text) {
			t.Fatalf("%s: TextLen %d, want %d", what, n, len(text))
		}
		for range 5 {
			from := rng.IntN(len(text) + 1)
			got, err := r.SliceText(kt.Key, uint64(from), 100)
			if want := strings.Join(text[from:min(from+100, len(text))], ""); err != nil || got != want {
				t.Fatalf("%s: text at %d: %q, %v; want %q", what, from, got, err, want)
			}
			from = rng.IntN(len(list))
			vals := r.SliceRGA(kl.Key, uint64(from), 100)
			want := list[from:min(from+100, len(list))]
			if len(vals) != len(want) {
				t.Fatalf("%s: RGA page at %d: %d values, want %d", what, from, len(vals), len(want))
			}
			for i, v := range vals {
				if string(v) != want[i] {
					t.Fatalf("%s: RGA value %d: %q, want %q", what, from+i, v, want[i])
				}
			}
		}
	}
	check(r, "a fresh start")
	var appended []crdt.OpID // RGA elements appended, oldest first
	// The seeded RGA's last element: the 30,000th insert (not deleted).
	seededLast := crdt.OpID{Origin: strings.Repeat("e", 32), Seq: 30000}
	for i := range 400 {
		switch i % 8 {
		case 0, 1:
			at := rng.IntN(len(text) + 1)
			s := []string{"x", "y", "é", "😀"}[:1+rng.IntN(4)]
			write(t, r, &crdt.Op{Kind: crdt.TextInsert, Key: kt.Key, Value: []byte(strings.Join(s, "")), At: &crdt.TextPos{Index: uint64(at)}})
			text = append(text[:at], append(append([]string(nil), s...), text[at:]...)...)
		case 2:
			at := rng.IntN(len(text))
			n := 1 + rng.IntN(min(30, len(text)-at))
			write(t, r, &crdt.Op{Kind: crdt.TextDelete, Key: kt.Key, At: &crdt.TextPos{Index: uint64(at), Count: uint64(n)}})
			text = append(text[:at], text[at+n:]...)
		case 3:
			write(t, r, &crdt.Op{Kind: crdt.RGAInsert, Key: kl.Key, Value: []byte("h")})
			list = append([]string{"h"}, list...)
		case 4, 5, 6: // a chat log: appended after its last element
			ref := seededLast
			if len(appended) > 0 {
				ref = appended[len(appended)-1]
			}
			v := []byte(fmt.Sprintf("m%d", i))
			appended = append(appended, write(t, r, &crdt.Op{Kind: crdt.RGAInsert, Key: kl.Key, Ref: ref, Value: v}))
			list = append(list, string(v))
		case 7: // and one of the last few messages taken back
			j := max(len(appended)-1-rng.IntN(3), 0)
			write(t, r, &crdt.Op{Kind: crdt.RGADelete, Key: kl.Key, Ref: appended[j]})
			at := len(list) - (len(appended) - j)
			list = append(list[:at], list[at+1:]...)
			appended = append(appended[:j], appended[j+1:]...)
		}
	}
	_, err := r.Write(ctx, &crdt.Op{Kind: crdt.TextInsert, Key: kt.Key, Value: []byte("z"), At: &crdt.TextPos{Index: uint64(len(text) + 1)}}, nil)
	if !errors.Is(err, ErrRange) {
		t.Fatalf("insert past the end: %v, want ErrRange", err)
	}
	check(r, "after 400 edits")
	if s := r.Stats(); s.SeqLoads != 0 || s.ViewWrites != 400 {
		t.Fatalf("%d sequences read whole, %d writes through views; want none and 400", s.SeqLoads, s.ViewWrites)
	}
	// An RGA insert after an element the view does not hold reads it whole
	// (checked on the second start, below).
	if viewStored(t, st, kt) || viewStored(t, st, kl) {
		t.Fatal("a view written through is still stored: a crash would read it stale")
	}
	for _, k := range []crdt.ObjKey{kt, kl} { // what a crash now would read
		obj, err := readObject(st, k)
		if err != nil {
			t.Fatal(err)
		}
		want := text
		if k == kl {
			want = list
		}
		if got := visible(obj); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("%s read from its records differs from the model (%d and %d elements)", k.Type, len(got), len(want))
		}
	}
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if !viewStored(t, st, kt) || !viewStored(t, st, kl) {
		t.Fatal("Close left no view")
	}

	r = openReplica(t, Config{Store: st})
	defer r.Close(ctx)
	check(r, "a second start")
	if n := r.Stats().SeqLoads; n != 0 {
		t.Fatalf("%d sequences read whole; want none", n)
	}
	// Read whole: the view goes with the next commit, the text is the same.
	r.Read(kt, func(o crdt.Object) {
		if got := o.(*crdt.Text).String(); got != strings.Join(text, "") {
			t.Fatalf("read whole, the text differs from the model (%d and %d characters)", len([]rune(got)), len(text))
		}
	})
	write(t, r, &crdt.Op{Kind: crdt.TextInsert, Key: kt.Key, Value: []byte("!"), At: &crdt.TextPos{Index: 0}})
	text = append([]string{"!"}, text...)
	if viewStored(t, st, kt) {
		t.Fatal("the view of a sequence changed in memory is still stored")
	}
	check(r, "read whole")
	if n := r.Stats().SeqLoads; n != 1 {
		t.Fatalf("%d sequences read whole; want 1", n)
	}
	// An RGA insert after an element the view does not hold (the seeded
	// 15,000th, in the middle) reads the RGA whole, and lands after it:
	// it is the 12,857th seeded one left (1 in 7 deleted), after the 100
	// inserted at the head.
	write(t, r, &crdt.Op{Kind: crdt.RGAInsert, Key: kl.Key, Ref: crdt.OpID{Origin: strings.Repeat("e", 32), Seq: 15000}, Value: []byte("mid")})
	if n := r.Stats().SeqLoads; n != 2 {
		t.Fatalf("%d sequences read whole; want 2", n)
	}
	at := 100 + 12857
	list = append(list[:at], append([]string{"mid"}, list[at:]...)...)
	check(r, "the RGA read whole")
}

// TestViews_RemoteEditsMeetViewEdits has node a edit a large Text through
// its view while b edits the same text in memory: a reads it whole when
// b's ops arrive, and both end with one text.
func TestViews_RemoteEditsMeetViewEdits(t *testing.T) {
	k := crdt.ObjKey{Type: crdt.TypeText, Key: "doc"}
	c := newCluster(t, 2, Config{})
	for i := range c.nodes { // the same text seeded on both, as a node leaves it at Close
		c.stop(i)
		st := openStore(t, c.dirs[i])
		seedSeq(t, st, k, viewSeeded)
		st.Close()
		c.start(i)
	}
	reps := c.nodes
	a, b := reps[0], reps[1]
	if a.view(k) == nil {
		t.Fatal("no view on a")
	}
	b.Read(k, func(crdt.Object) {}) // b holds it in memory
	for i := range 50 {
		write(t, a, &crdt.Op{Kind: crdt.TextInsert, Key: k.Key, Value: []byte("A"), At: &crdt.TextPos{Index: uint64(i * 300)}})
		write(t, b, &crdt.Op{Kind: crdt.TextInsert, Key: k.Key, Value: []byte("B"), At: &crdt.TextPos{Index: uint64(i * 200)}})
		if i%10 == 0 {
			write(t, a, &crdt.Op{Kind: crdt.TextDelete, Key: k.Key, At: &crdt.TextPos{Index: uint64(i * 100), Count: 3}})
		}
	}
	if a.Stats().ViewWrites == 0 {
		t.Fatal("a wrote nothing through its view")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ta, tb := a.textString(k), b.textString(k)
		// Seeded and visible (seedSeq deletes every seventh), 100 typed,
		// 15 deleted.
		want := viewSeeded - (viewSeeded+6)/7 + 100 - 15
		if ta == tb && len(ta) == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not converged: %d and %d characters, want %d", len(ta), len(tb), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// textString reads Text k whole (test helper).
func (r *Replica) textString(k crdt.ObjKey) string {
	s, err := r.SliceText(k.Key, 0, 1<<40)
	if err != nil {
		return "error: " + err.Error()
	}
	return s
}

// The SIGKILL test of views: a child types into a 20,000-character Text,
// seeded with its view, through the view (sync = always), printing "ack N"
// after its N-th insert is acknowledged, until killed. Insert i goes at
// viewCrashPos(i, length), so the text after any number of inserts is
// known.
const viewCrashSeeded = viewSeeded

func viewCrashPos(i, n int) int { return (i*7919 + 13) % (n + 1) }

func viewCrashChild(dir string) {
	cfg := store.DefaultConfig(dir)
	cfg.Sync = store.SyncAlways
	st, err := store.Open(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	r, err := Open(Config{Store: st})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	k := crdt.ObjKey{Type: crdt.TypeText, Key: "doc"}
	seeded := viewCrashSeeded - (viewCrashSeeded+6)/7 // seedSeq deletes one in seven
	for {
		n := r.TextLen(k.Key)
		i := n - seeded
		op := &crdt.Op{Kind: crdt.TextInsert, Key: k.Key, Value: []byte("x"), At: &crdt.TextPos{Index: uint64(viewCrashPos(i, n))}}
		if _, err := r.Write(context.Background(), op, nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		if s := r.Stats(); s.SeqLoads != 0 || s.ViewWrites == 0 {
			fmt.Fprintln(os.Stderr, "the text was read whole, not written through its view")
			os.Exit(3)
		}
		fmt.Printf("ack %d\n", i+1)
	}
}

// TestViews_SurvivesSIGKILL kills a node typing through a view, six times:
// each restart finds every acknowledged insert in the text, in its place
// (the view written through was not stored: the text is read whole), and
// closing then leaves a view the next round types through.
func TestViews_SurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test spawns processes")
	}
	dir := t.TempDir()
	k := crdt.ObjKey{Type: crdt.TypeText, Key: "doc"}
	st := openStore(t, dir)
	model := seedSeq(t, st, k, viewCrashSeeded)
	seeded := len(model)
	st.Close()
	rng := rand.New(rand.NewPCG(5, 8))
	acked := 0
	for round := range 6 {
		a, _ := testutil.RunAndKillCounting(t, []string{"NUMAX_REPLICA_CRASH_CHILD=" + dir, "NUMAX_REPLICA_CRASH_MODE=view"},
			time.Duration(100+rng.IntN(200))*time.Millisecond)
		acked = max(acked, int(a))
		st := openStore(t, dir)
		r := openReplica(t, Config{Store: st})
		got := r.textString(k)
		kept := len([]rune(got)) - seeded
		for i := len(model) - seeded; i < kept; i++ {
			at := viewCrashPos(i, len(model))
			model = append(model[:at], append([]string{"x"}, model[at:]...)...)
		}
		if kept < acked || got != strings.Join(model, "") {
			t.Fatalf("round %d: %d inserts kept, %d acknowledged; the text matches the model: %v", round, kept, acked, got == strings.Join(model, ""))
		}
		if s := r.Stats(); s.SeqLoads != 1 {
			t.Fatalf("round %d: %d loads, want 1 (the view written through must not be read)", round, s.SeqLoads)
		}
		t.Logf("round %d: %d inserts acknowledged, %d kept", round, a, kept)
		r.Close(context.Background())
		if !viewStored(t, st, k) {
			t.Fatalf("round %d: no view after Close", round)
		}
		st.Close()
	}
}

// TestViews_DeletesThroughAViewAreCollected deletes the last 5,000
// characters of a large Text through its view: once the view is idle, the
// collection timer
// reads the text whole, and the deleted runs are collected from the store;
// the text reads the same throughout.
func TestViews_DeletesThroughAViewAreCollected(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	k := crdt.ObjKey{Type: crdt.TypeText, Key: "doc"}
	model := seedSeq(t, st, k, viewSeeded)
	r := openReplica(t, Config{Store: st})
	defer r.Close(context.Background())
	// The last 5,000: typed one after another, each character's run is
	// the parent of the next, and a run goes only once nothing names it.
	for left := 5000; left > 0; {
		n := min(left, 1000)
		write(t, r, &crdt.Op{Kind: crdt.TextDelete, Key: k.Key, At: &crdt.TextPos{Index: uint64(len(model) - 5000), Count: uint64(n)}})
		left -= n
	}
	model = model[:len(model)-5000]
	if s := r.Stats(); s.SeqLoads != 0 || s.ViewWrites == 0 {
		t.Fatalf("%d loads, %d writes through the view; want none and some", s.SeqLoads, s.ViewWrites)
	}
	records := func() int {
		n, err := st.CountKeys(store.CRDT)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := records()
	r.mu.Lock()
	r.views.open[k].used = time.Now().Add(-2 * seqKeep) // idle
	r.mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for r.GC().CollectedBytes == 0 || records() > before-5000 {
		if time.Now().After(deadline) {
			t.Fatalf("not collected: %d bytes, %d records (%d before)", r.GC().CollectedBytes, records(), before)
		}
		r.collectNow()
		time.Sleep(50 * time.Millisecond)
	}
	if n := r.Stats().SeqLoads; n != 1 {
		t.Fatalf("%d loads, want 1", n)
	}
	if got := r.textString(k); got != strings.Join(model, "") {
		t.Fatalf("the text changed: %d characters, want %d", len([]rune(got)), len(model))
	}
	t.Logf("records %d -> %d, %d bytes collected", before, records(), r.GC().CollectedBytes)
}

// TestProperty_ViewsMatchTheSequenceInMemory drives one node at random —
// Text inserts and deletes by position, RGA inserts at the head or after
// an element and deletes, ops from another origin, unloads (views written),
// whole reads, idle flushes, collection passes, restarts — with every
// sequence leaving a view however small, and after each step compares what
// the node reads (through a view or not) and what its records hold with
// the same ops applied to objects in memory.
func TestProperty_ViewsMatchTheSequenceInMemory(t *testing.T) {
	var viewWrites atomic.Uint64
	rapid.Check(t, func(rt *rapid.T) {
		dir, err := os.MkdirTemp("", "views")
		if err != nil {
			rt.Fatal(err)
		}
		defer os.RemoveAll(dir)
		st, err := store.Open(store.DefaultConfig(dir))
		if err != nil {
			rt.Fatal(err)
		}
		defer st.Close()
		net := NewMemNet(3)
		defer net.Close()
		self, other := strings.Repeat("a", 32), strings.Repeat("b", 32)
		cfg := Config{Store: st, NodeID: self, Transport: net.Endpoint(self), viewMin: 1}
		r, err := Open(cfg)
		if err != nil {
			rt.Fatal(err)
		}
		defer func() { r.Close(context.Background()) }()
		kt, kl := crdt.ObjKey{Type: crdt.TypeText, Key: "t"}, crdt.ObjKey{Type: crdt.TypeRGA, Key: "l"}
		txt, list := &crdt.Text{}, &crdt.RGA{}
		otherSeq := uint64(0)
		apply := func(op *crdt.Op) {
			if op.Key == kt.Key {
				txt.Apply(op)
			} else {
				list.Apply(op)
			}
		}
		local := func(op *crdt.Op) {
			if _, err := r.Write(context.Background(), op, nil); err != nil {
				if errors.Is(err, ErrNoop) {
					return
				}
				rt.Fatalf("write %s: %v", op.Kind, err)
			}
			apply(op)
		}
		for range rapid.IntRange(1, 60).Draw(rt, "steps") {
			switch rapid.IntRange(0, 11).Draw(rt, "step") {
			case 0, 1, 2: // type
				at := rapid.Uint64Range(0, uint64(txt.Len())).Draw(rt, "at")
				s := rapid.StringMatching(`[a-zé😀]{1,8}`).Draw(rt, "s")
				local(&crdt.Op{Kind: crdt.TextInsert, Key: kt.Key, Value: []byte(s), At: &crdt.TextPos{Index: at}})
			case 3: // delete
				if txt.Len() == 0 {
					continue
				}
				at := rapid.Uint64Range(0, uint64(txt.Len())-1).Draw(rt, "from")
				n := rapid.Uint64Range(1, uint64(txt.Len())-at).Draw(rt, "n")
				local(&crdt.Op{Kind: crdt.TextDelete, Key: kt.Key, At: &crdt.TextPos{Index: at, Count: n}})
			case 4: // RGA insert, at the head or after a visible element
				op := &crdt.Op{Kind: crdt.RGAInsert, Key: kl.Key, Value: []byte(rapid.StringMatching(`[a-z]{1,3}`).Draw(rt, "v"))}
				if vis := list.Visible(); len(vis) > 0 && rapid.Bool().Draw(rt, "after") {
					op.Ref = vis[rapid.IntRange(0, len(vis)-1).Draw(rt, "parent")].ID
				}
				local(op)
			case 5: // RGA delete
				if vis := list.Visible(); len(vis) > 0 {
					local(&crdt.Op{Kind: crdt.RGADelete, Key: kl.Key, Ref: vis[rapid.IntRange(0, len(vis)-1).Draw(rt, "elem")].ID})
				}
			case 6: // another origin types somewhere, stamped a little ahead
				at := rapid.Uint64Range(0, uint64(txt.Len())).Draw(rt, "remote at")
				parent, _ := txt.ResolveInsert(at)
				otherSeq++
				op := &crdt.Op{Kind: crdt.TextInsert, Key: kt.Key, Origin: other, Seq: otherSeq, Ref: parent.Run, Delta: parent.Off,
					HLC: crdt.HLCAt(time.Now().UnixMilli() + int64(rapid.IntRange(0, 50).Draw(rt, "ahead"))), Value: []byte("R")}
				if err := r.Handle(other, &Message{Kind: PushOps, Ops: []*crdt.Op{op}}); err != nil {
					rt.Fatalf("remote op: %v", err)
				}
				apply(op)
			case 7: // unload everything idle: views written
				r.mu.Lock()
				for _, u := range r.seqs.used {
					u.at = time.Now().Add(-2 * seqKeep)
				}
				r.seqs.lastTry = time.Time{}
				r.unloadSeqs(-1)
				r.mu.Unlock()
			case 8: // read whole
				r.Read(kt, func(crdt.Object) {})
				r.Read(kl, func(crdt.Object) {})
			case 9: // idle views flushed, collection
				r.mu.Lock()
				for _, ov := range r.views.open {
					ov.used = time.Now().Add(-2 * seqKeep)
				}
				r.mu.Unlock()
				r.collectNow()
			case 10, 11: // restart
				if err := r.Close(context.Background()); err != nil {
					rt.Fatal(err)
				}
				if r, err = Open(cfg); err != nil {
					rt.Fatal(err)
				}
			}
			if got, want := r.textString(kt), txt.String(); got != want {
				rt.Fatalf("text %q, in memory %q", got, want)
			}
			vals := r.SliceRGA(kl.Key, 0, 1<<30)
			want := list.Slice(0, uint64(list.Len()))
			if len(vals) != len(want) {
				rt.Fatalf("RGA of %d values, in memory %d", len(vals), len(want))
			}
			for i := range vals {
				if !bytes.Equal(vals[i], want[i]) {
					rt.Fatalf("RGA value %d: %q, in memory %q", i, vals[i], want[i])
				}
			}
		}
		// The records say the same (tombstones aside: they may be
		// collected there).
		for k, want := range map[crdt.ObjKey]crdt.Object{kt: txt, kl: list} {
			obj, err := readObject(st, k)
			if err != nil {
				rt.Fatal(err)
			}
			if obj == nil {
				obj = crdt.New(k.Type)
			}
			if got, want := visible(obj), visible(want); strings.Join(got, "|") != strings.Join(want, "|") {
				rt.Fatalf("%s read from its records: %q, in memory %q", k.Type, got, want)
			}
		}
		viewWrites.Add(r.Stats().ViewWrites)
	})
	if viewWrites.Load() == 0 {
		t.Fatal("no write went through a view")
	}
	t.Logf("%d writes through views", viewWrites.Load())
}

// TestViews_WaitForAFullDisk writes through a view, then the disk fills:
// the idle flush, the unload and Close write nothing (the replica does not
// fail, the view stays in memory and reads right); once space is back the
// view is stored.
func TestViews_WaitForAFullDisk(t *testing.T) {
	var free atomic.Uint64
	free.Store(1 << 30)
	cfg := store.DefaultConfig(t.TempDir())
	cfg.MinFree = 64 << 20
	cfg.FreeSpace = func(string) (uint64, error) { return free.Load(), nil }
	st, err := store.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	k := crdt.ObjKey{Type: crdt.TypeText, Key: "doc"}
	model := seedSeq(t, st, k, viewSeeded)
	r := openReplica(t, Config{Store: st})
	write(t, r, &crdt.Op{Kind: crdt.TextInsert, Key: k.Key, Value: []byte("Z"), At: &crdt.TextPos{Index: 5}})
	model = append(model[:5], append([]string{"Z"}, model[5:]...)...)
	free.Store(10 << 20)
	testutil.Eventually(t, 5*time.Second, "degraded", func() bool { return st.Degraded() != "" })
	idle := func() {
		r.mu.Lock()
		for _, ov := range r.views.open {
			ov.used = time.Now().Add(-2 * seqKeep)
		}
		for _, u := range r.seqs.used {
			u.at = time.Now().Add(-2 * seqKeep)
		}
		r.seqs.lastTry = time.Time{}
		r.mu.Unlock()
	}
	idle()
	r.collectNow()
	r.mu.Lock()
	r.unloadSeqs(-1)
	open := r.views.open[k] != nil
	r.mu.Unlock()
	if !open || viewStored(t, st, k) {
		t.Fatalf("on a full disk: view in memory %v, stored %v; want in memory only", open, viewStored(t, st, k))
	}
	if got := r.textString(k); got != strings.Join(model, "") {
		t.Fatal("the text read on a full disk differs from the model")
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if viewStored(t, st, k) {
		t.Fatal("Close stored a view on a full disk")
	}
	free.Store(1 << 30)
	testutil.Eventually(t, 5*time.Second, "writes resumed", func() bool { return st.Degraded() == "" })
	r = openReplica(t, Config{Store: st})
	defer r.Close(context.Background())
	if got := r.textString(k); got != strings.Join(model, "") {
		t.Fatal("after the disk cleared, the text differs from the model")
	}
	if n := r.Stats().SeqLoads; n != 1 {
		t.Fatalf("%d loads, want 1: the view written through was never stored", n)
	}
	r.mu.Lock()
	r.unloadSeqs(-1) // in use just now: kept
	r.mu.Unlock()
	idle()
	r.mu.Lock()
	r.unloadSeqs(-1)
	r.mu.Unlock()
	if !viewStored(t, st, k) {
		t.Fatal("no view stored once the disk cleared")
	}
}
