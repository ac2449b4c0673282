package replica

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/store"
	"github.com/numax/numax/internal/testutil"
)

// setFigures is what node i holds of the set: present elements, removed
// tags in memory, its encoded size, and its records in the store (and how
// many of them still hold a removed tag).
func setFigures(t *testing.T, c *cluster, i int, key string) (present, removed, encoded, records, tombRecords int) {
	present, removed, encoded, records, tombRecords, _ = setFiguresBytes(t, c, i, key)
	return
}

// setFiguresBytes is setFigures and the bytes of the set's records.
func setFiguresBytes(t *testing.T, c *cluster, i int, key string) (present, removed, encoded, records, tombRecords, recordBytes int) {
	t.Helper()
	k := crdt.ObjKey{Type: crdt.TypeORSet, Key: key}
	c.nodes[i].Read(k, func(o crdt.Object) {
		if s, ok := o.(*crdt.ORSet); ok {
			present = len(s.Elements())
			s.Tombstones(func(_ string, tags []crdt.OpID) { removed += len(tags) })
			encoded = len(s.AppendBinary(nil))
		}
	})
	rows, err := c.st[i].Scan(store.CRDT, store.ScanOptions{Prefix: objPrefix(k)})
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		recordBytes += len(row.Key) + len(row.Value)
		set, err := crdt.FromRecords(crdt.TypeORSet, []crdt.Record{{Sub: row.Key[len(objPrefix(k)):], Value: row.Value}})
		if err != nil {
			t.Fatal(err)
		}
		set.(*crdt.ORSet).Tombstones(func(string, []crdt.OpID) { tombRecords++ })
	}
	return present, removed, encoded, len(rows), tombRecords, recordBytes
}

// writeBacking writes op, waiting while the outbound queue is full (the
// peers catch up), for a minute at most.
func writeBacking(t *testing.T, r *Replica, op *crdt.Op) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := r.Write(context.Background(), op, nil)
		if err == nil {
			return
		}
		if !errors.Is(err, ErrBackpressure) || time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
}

// Three nodes add 100,000 elements (10,000 under the race detector) to one set and delete nine in ten of
// them; once every member has acknowledged the removals (and the ops made
// concurrently with them), every node's tombstones are gone, from memory
// and from the store. A fourth node, away past member_expiry meanwhile,
// does not hold collection back and, back, converges exactly.
func TestTombstonesCollectedOnceStable(t *testing.T) {
	n := 100_000
	if testutil.Race {
		n = 10_000 // make test runs it at full size without the race detector too
	}
	c := newCluster(t, 4, Config{MemberExpiry: 3 * time.Second, OpLogLimit: 5000})
	ctx := context.Background()
	for i := range 3 {
		for j := i; j < n; j += 3 {
			writeBacking(t, c.nodes[i], &crdt.Op{Kind: crdt.ORSetAdd, Key: "big", Field: []byte(fmt.Sprintf("e%06d", j))})
		}
	}
	c.awaitSameVV(c.nodes, "the adds")
	c.awaitConvergence("the adds")
	_, _, encBefore, _, _, recBefore := setFiguresBytes(t, c, 0, "big")
	if err := c.st[0].Compact(ctx); err != nil {
		t.Fatal(err)
	}
	before := c.st[0].TableBytes()
	c.stop(3) // away from here on

	for i := range 3 {
		for j := i; j < n; j += 3 {
			if j%10 == 0 {
				continue
			}
			writeBacking(t, c.nodes[i], &crdt.Op{Kind: crdt.ORSetRemove, Key: "big", Field: []byte(fmt.Sprintf("e%06d", j))})
		}
	}
	removedAt := time.Now()
	live := c.nodes[:3]
	collected := func() bool {
		// Cheap first: every removal here and none waiting; the figures
		// read the sets through the store.
		for _, r := range live {
			if g := r.GC(); g.Pending != 0 {
				return false
			}
		}
		for i := range 3 {
			present, removed, _, records, tombRecords := setFigures(t, c, i, "big")
			if present != n/10 || removed != 0 || records != n/10 || tombRecords != 0 {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(90 * time.Second)
	for !collected() {
		if time.Now().After(deadline) {
			c.dump(t, "big")
			t.Fatal("tombstones not collected on the three nodes within 90 s")
		}
		for _, r := range live {
			r.AntiEntropy()
		}
		time.Sleep(100 * time.Millisecond) // each check reads the sets through the store
	}
	took := time.Since(removedAt)
	for i := range 3 {
		if !bytes.Equal(c.nodes[i].Digest(), c.nodes[0].Digest()) {
			t.Fatalf("node %d differs from node 1 after collection", i+1)
		}
	}
	_, _, encAfter, records, _, recAfter := setFiguresBytes(t, c, 0, "big")
	if err := c.st[0].Compact(ctx); err != nil {
		t.Fatal(err)
	}
	g := c.nodes[0].GC()
	c.nodes[0].mu.Lock()
	resident := c.nodes[0].cache.Used
	c.nodes[0].mu.Unlock()
	t.Logf("collected %.1f s after the removals (member_expiry 3 s): the set encodes to %d -> %d bytes (%d bytes of its elements resident in memory), %d -> %d records (%d -> %d bytes) in the store; store tables %d -> %d bytes after compaction; %d bytes of tombstones collected, %d waiting",
		took.Seconds(), encBefore, encAfter, resident, n, records, recBefore, recAfter, before, c.st[0].TableBytes(), g.CollectedBytes, g.Pending)
	if g.CollectedBytes == 0 || g.Pending != 0 {
		t.Fatalf("metrics: %+v", g)
	}
	if encAfter > encBefore/5 || recAfter > recBefore/5 {
		t.Fatalf("a tenth of the elements left, but the set encodes to %d of %d bytes and its records take %d of %d", encAfter, encBefore, recAfter, recBefore)
	}

	// The fourth node comes back: it holds every element and no removal,
	// and the three collected the removals' ops from their logs: it gets a
	// snapshot and ends exactly where they are.
	c.start(3)
	c.awaitSameVV(c.nodes, "the returning node")
	deadline = time.Now().Add(time.Minute)
	for !c.converged() {
		if time.Now().After(deadline) {
			c.dump(t, "big")
			t.Fatal("the returning node did not converge exactly within a minute")
		}
		for _, r := range c.nodes {
			r.AntiEntropy()
		}
		time.Sleep(100 * time.Millisecond) // digests read every set through the store
	}
	if present, removed, _, _, _ := setFigures(t, c, 3, "big"); present != n/10 || removed != 0 {
		t.Fatalf("returning node: %d present, %d removed tags", present, removed)
	}
}

// dump logs what each node holds of the set and of collection.
func (c *cluster) dump(t *testing.T, key string) {
	for i, r := range c.nodes {
		if r.closed.Load() {
			continue
		}
		p, rm, enc, rec, tr := setFigures(t, c, i, key)
		r.mu.Lock()
		var epochs []string
		for _, e := range r.gc.epochs {
			epochs = append(epochs, fmt.Sprintf("{items %d, v %v, w %v}", len(e.items), e.v, e.w))
		}
		t.Logf("node %d: vv %v, %d present, %d removed tags, %d bytes, %d records (%d with removals)\n  members %v live %v own %v\n  usable %v\n  stable %v\n  epochs %v",
			i+1, r.state.VV, p, rm, enc, rec, tr, r.gc.members, r.liveMembers(), r.gc.own, r.gc.usable, r.stable(), epochs)
		r.mu.Unlock()
	}
}

// awaitSameVV waits (a minute at most) until nodes hold the same version
// vector: cheaper to poll than digests, which read every object.
func (c *cluster) awaitSameVV(nodes []*Replica, what string) {
	c.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		same := true
		vv := nodes[0].VV()
		for _, r := range nodes[1:] {
			same = same && maps.Equal(vv, r.VV())
		}
		if same {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: version vectors still differ after a minute", what)
		}
		for _, r := range nodes {
			r.AntiEntropy()
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Removals a node receives in a snapshot (their ops never applied there)
// are collected like the others once stable.
func TestTombstonesFromASnapshotCollected(t *testing.T) {
	c := newCluster(t, 3, Config{OpLogLimit: 50, AntiEntropyInterval: 50 * time.Millisecond})
	write(t, c.nodes[2], &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1})
	c.awaitConvergence("before")
	c.stop(2) // a live member (heard a moment ago): nothing is collected while it is away
	for j := range 300 {
		writeBacking(t, c.nodes[j%2], &crdt.Op{Kind: crdt.ORSetAdd, Key: "s", Field: []byte(fmt.Sprint("e", j))})
	}
	c.awaitSameVV(c.nodes[:2], "the adds")
	for j := range 300 {
		if j%3 != 0 {
			writeBacking(t, c.nodes[j%2], &crdt.Op{Kind: crdt.ORSetRemove, Key: "s", Field: []byte(fmt.Sprint("e", j))})
		}
	}
	c.awaitSameVV(c.nodes[:2], "the removes")
	if _, removed, _, _, _ := setFigures(t, c, 0, "s"); removed == 0 {
		t.Fatal("tombstones collected while a member was away")
	}
	c.start(2)
	deadline := time.Now().Add(time.Minute)
	for {
		done := true
		for i := range 3 {
			if present, removed, _, _, _ := setFigures(t, c, i, "s"); present != 100 || removed != 0 {
				done = false
			}
		}
		if done && c.converged() {
			break
		}
		if time.Now().After(deadline) {
			c.dump(t, "s")
			t.Fatal("tombstones not collected everywhere within a minute")
		}
		for _, r := range c.nodes {
			r.AntiEntropy()
		}
		time.Sleep(50 * time.Millisecond)
	}
	if c.nodes[2].Stats().SnapshotsApplied == 0 {
		t.Fatal("the returning node caught up without a snapshot: the test did not exercise it")
	}
}

// textRecords counts the records of Text key in node i's store.
func textRecords(t *testing.T, c *cluster, i int, key string) int {
	t.Helper()
	rows, err := c.st[i].Scan(store.CRDT, store.ScanOptions{Prefix: objPrefix(crdt.ObjKey{Type: crdt.TypeText, Key: key}), KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	return len(rows)
}

// textEdit writes a Text insert or delete by position on r (a delete longer
// than one op covers is written as several), waiting out backpressure. It
// reports false if the text had become too short (a remote delete
// applied since the caller looked).
func textEdit(t *testing.T, r *Replica, key string, at, del int, ins string) bool {
	t.Helper()
	write := func(op *crdt.Op) bool {
		deadline := time.Now().Add(time.Minute)
		for {
			_, err := r.Write(context.Background(), op, nil)
			switch {
			case err == nil:
				return true
			case errors.Is(err, ErrRange) || errors.Is(err, ErrNoop):
				return false
			case !errors.Is(err, ErrBackpressure) || time.Now().After(deadline):
				t.Error(err)
				return false
			}
			time.Sleep(time.Millisecond)
		}
	}
	for del > 0 {
		op := &crdt.Op{Kind: crdt.TextDelete, Key: key, At: &crdt.TextPos{Index: uint64(at), Count: uint64(del)}}
		if !write(op) {
			return false
		}
		del -= int(op.At.Count)
	}
	return ins == "" || write(&crdt.Op{Kind: crdt.TextInsert, Key: key, Value: []byte(ins), At: &crdt.TextPos{Index: uint64(at)}})
}

func textOf(r *Replica, key string) string {
	var s string
	r.Read(crdt.ObjKey{Type: crdt.TypeText, Key: key}, func(o crdt.Object) {
		if t, ok := o.(*crdt.Text); ok {
			s = t.String()
		}
	})
	return s
}

// Three nodes type into one Text at once, then delete nine characters in
// ten and type a little more; once stable, the deleted runs are gone from
// every node's memory and store (but for those something was typed after),
// every node shows the same text, and a fourth node, away past
// member_expiry meanwhile, converges exactly when it returns.
func TestTextTombstonesCollected(t *testing.T) {
	c := newCluster(t, 4, Config{MemberExpiry: 3 * time.Second, OpLogLimit: 500})
	const typed = 600 // characters per node
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			for j := 0; j < typed; {
				n := utf8.RuneCountInString(textOf(c.nodes[i], "doc"))
				if textEdit(t, c.nodes[i], "doc", rng.IntN(n+1), 0, string(rune('a'+i*7+j%7))) {
					j++
				}
			}
		}()
	}
	wg.Wait()
	c.awaitSameVV(c.nodes, "the typing")
	c.awaitConvergence("the typing")
	before := textRecords(t, c, 0, "doc")
	c.stop(3)

	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 8))
			for {
				n := utf8.RuneCountInString(textOf(c.nodes[i], "doc"))
				if n <= 3*typed/10 {
					break
				}
				at := rng.IntN(n)
				textEdit(t, c.nodes[i], "doc", at, min(1+rng.IntN(8), n-at), "")
				if rng.IntN(10) == 0 {
					textEdit(t, c.nodes[i], "doc", rng.IntN(n/2+1), 0, "Z")
				}
			}
		}()
	}
	wg.Wait()
	c.awaitCollected(c.nodes[:3], "deleted runs")
	want := textOf(c.nodes[0], "doc")
	visible := utf8.RuneCountInString(want)
	for i := range 3 {
		recs := textRecords(t, c, i, "doc")
		var leaves int
		c.nodes[i].Read(crdt.ObjKey{Type: crdt.TypeText, Key: "doc"}, func(o crdt.Object) { leaves = o.(*crdt.Text).DeletedLeaves() })
		t.Logf("node %d: %d visible characters, text records %d -> %d (the rest: deleted characters something was typed after), %+v",
			i+1, visible, before, recs, c.nodes[i].GC())
		// Left: the runs with a visible character, and deleted ones only
		// where something was typed after them.
		if leaves != 0 || recs > before/5 || c.nodes[i].GC().CollectedBytes == 0 {
			t.Fatalf("node %d keeps %d text records of %d (%d deleted ones nothing follows) for %d visible characters", i+1, recs, before, leaves, visible)
		}
	}
	c.start(3)
	c.awaitSameVV(c.nodes, "the returning node")
	c.awaitConvergence("the returning node")
	if got := textOf(c.nodes[3], "doc"); got != want {
		t.Fatalf("returning node shows %q, the others %q", got, want)
	}
}

// rgaIDs returns node r's placed elements of RGA key (deleted ones too).
func rgaIDs(r *Replica, key string) (visible, all []crdt.OpID) {
	r.Read(crdt.ObjKey{Type: crdt.TypeRGA, Key: key}, func(o crdt.Object) {
		if l, ok := o.(*crdt.RGA); ok {
			for _, e := range l.Visible() {
				visible = append(visible, e.ID)
			}
			for id, e := range l.Elems {
				if e.Inserted {
					all = append(all, id)
				}
			}
		}
	})
	return visible, all
}

// As TestTextTombstonesCollected for an RGA: three nodes insert, delete
// nine in ten and insert after deleted elements (which names the visible
// one before); once stable the deleted elements are gone from every node
// but for those something was inserted under, and a fourth node, away
// past member_expiry, converges exactly when it returns.
func TestRGATombstonesCollected(t *testing.T) {
	c := newCluster(t, 4, Config{MemberExpiry: 3 * time.Second, OpLogLimit: 500})
	k := crdt.ObjKey{Type: crdt.TypeRGA, Key: "l"}
	const per = 400
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 9))
			for range per {
				vis, _ := rgaIDs(c.nodes[i], "l")
				op := &crdt.Op{Kind: crdt.RGAInsert, Key: "l", Value: []byte{byte('a' + i)}}
				if len(vis) > 0 {
					op.Ref = vis[rng.IntN(len(vis))]
				}
				writeBacking(t, c.nodes[i], op)
			}
		}()
	}
	wg.Wait()
	c.awaitSameVV(c.nodes, "the inserts")
	c.awaitConvergence("the inserts")
	recs := func(i int) int {
		rows, err := c.st[i].Scan(store.CRDT, store.ScanOptions{Prefix: objPrefix(k), KeysOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		return len(rows)
	}
	before := recs(0)
	c.stop(3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 10))
			for {
				vis, all := rgaIDs(c.nodes[i], "l")
				if len(vis) <= 3*per/10 {
					return
				}
				op := &crdt.Op{Kind: crdt.RGADelete, Key: "l", Ref: vis[rng.IntN(len(vis))]}
				if rng.IntN(10) == 0 { // after any element, deleted or not
					op = &crdt.Op{Kind: crdt.RGAInsert, Key: "l", Ref: all[rng.IntN(len(all))], Value: []byte("Z")}
				}
				if _, err := c.nodes[i].Write(context.Background(), op, nil); err != nil && !errors.Is(err, ErrBackpressure) && !errors.Is(err, ErrNotFound) {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	c.awaitCollected(c.nodes[:3], "deleted elements")
	vis, _ := rgaIDs(c.nodes[0], "l")
	for i := range 3 {
		var leaves int
		c.nodes[i].Read(k, func(o crdt.Object) { leaves = o.(*crdt.RGA).DeletedLeaves() })
		t.Logf("node %d: %d visible elements, records %d -> %d, %+v", i+1, len(vis), before, recs(i), c.nodes[i].GC())
		if leaves != 0 || recs(i) > before/2 || c.nodes[i].GC().CollectedBytes == 0 {
			t.Fatalf("node %d keeps %d records of %d (%d deleted ones without children) for %d visible elements", i+1, recs(i), before, leaves, len(vis))
		}
	}
	c.start(3)
	c.awaitSameVV(c.nodes, "the returning node")
	c.awaitConvergence("the returning node")
}

// awaitCollected waits (a minute at most) until nodes hold the same vector
// and state and nothing waits for collection.
func (c *cluster) awaitCollected(nodes []*Replica, what string) {
	c.t.Helper()
	c.awaitSameVV(nodes, what)
	deadline := time.Now().Add(time.Minute)
	for {
		done := true
		for _, r := range nodes {
			done = done && r.GC().Pending == 0 && bytes.Equal(r.Digest(), nodes[0].Digest())
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			for i, r := range nodes {
				c.t.Logf("node %d: vv %v, %+v", i+1, r.VV(), r.GC())
				r.mu.Lock()
				for k, o := range r.state.Objects {
					switch o := o.(type) {
					case *crdt.RGA:
						var del []string
						for id, e := range o.Elems {
							if e.Deleted {
								del = append(del, fmt.Sprintf("%d@%.4s(ins=%v)", id.Seq, id.Origin, e.Inserted))
							}
						}
						slices.Sort(del)
						c.t.Logf("  %s: %d elements, %d visible, deleted leaves %d, deleted %v", k.Key, len(o.Elems), o.Len(), o.DeletedLeaves(), del)
					case *crdt.Text:
						c.t.Logf("  text %s: %d visible", k.Key, o.Len())
					}
				}
				r.mu.Unlock()
			}
			c.t.Fatalf("%s not collected within a minute", what)
		}
		for _, r := range nodes {
			r.AntiEntropy()
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mapFigures reads LWW-Map key's records on node i: fields present and
// tombstones.
func mapFigures(t *testing.T, c *cluster, i int, key string) (present, removed int) {
	t.Helper()
	k := crdt.ObjKey{Type: crdt.TypeLWWMap, Key: key}
	rows, err := c.st[i].Scan(store.CRDT, store.ScanOptions{Prefix: objPrefix(k)})
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		_, gone, err := crdt.MapRecordValue(row.Value)
		if err != nil {
			t.Fatal(err)
		}
		if gone {
			removed++
		} else {
			present++
		}
	}
	return present, removed
}

// TestLWWMapTombstonesCollected: four nodes set 600 fields of one map and
// remove 540; the tombstones go from every store once all four hold the
// removals. Then the fourth is cut off past member_expiry, writes a field
// the others then set and remove, with 269 more: those tombstones stay,
// though every other kind would go (the late write, stamped before its
// removal, must lose everywhere); once it is back, the late write loses on
// all four, all four collect the tombstones and end equal.
func TestLWWMapTombstonesCollected(t *testing.T) {
	c := newCluster(t, 4, Config{MemberExpiry: 2 * time.Second, OpLogLimit: 5000})
	field := func(p string, j int) []byte { return []byte(fmt.Sprintf("%s%04d", p, j)) }
	round := func(nodes []*Replica, p string, n int) {
		for j := range n {
			writeBacking(t, nodes[j%len(nodes)], &crdt.Op{Kind: crdt.LWWMapSet, Key: "m", Field: field(p, j), Value: []byte("v")})
		}
		c.awaitSameVV(nodes, "the sets "+p)
		for j := range n {
			if j%10 != 0 {
				writeBacking(t, nodes[(j+1)%len(nodes)], &crdt.Op{Kind: crdt.LWWMapRemove, Key: "m", Field: field(p, j)})
			}
		}
	}
	await := func(nodes []int, present, removed int, what string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			ok := true
			for _, i := range nodes {
				if p, r := mapFigures(t, c, i, "m"); p != present || r != removed {
					ok = false
				}
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				for _, i := range nodes {
					p, r := mapFigures(t, c, i, "m")
					t.Logf("node %d: %d fields, %d tombstones, GC %+v", i+1, p, r, c.nodes[i].GC())
				}
				t.Fatalf("%s: want %d fields and %d tombstones on every node", what, present, removed)
			}
			for _, i := range nodes {
				c.nodes[i].AntiEntropy()
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	round(c.nodes, "a", 600)
	await([]int{0, 1, 2, 3}, 60, 0, "all four up")
	if g := c.nodes[0].GC(); g.CollectedBytes == 0 {
		t.Fatalf("metrics: %+v", g)
	}

	// The fourth is cut off past member_expiry, and writes meanwhile: a
	// field the others then set and remove.
	ids := []string{c.nodes[0].NodeID(), c.nodes[1].NodeID(), c.nodes[2].NodeID()}
	away := c.nodes[3].NodeID()
	c.net.Partition(ids, []string{away})
	writeBacking(t, c.nodes[3], &crdt.Op{Kind: crdt.LWWMapSet, Key: "m", Field: field("b", 5), Value: []byte("late")})
	testutil.Eventually(t, 30*time.Second, "the fourth expired on the three", func() bool {
		for _, r := range c.nodes[:3] {
			r.mu.Lock()
			live := slices.Contains(r.liveMembers(), away)
			r.mu.Unlock()
			if live {
				return false
			}
		}
		return true
	})
	round(c.nodes[:3], "b", 300)
	await([]int{0, 1, 2}, 90, 270, "the fourth away past member_expiry")
	// Every other kind of tombstone would go now (the epochs passed both
	// steps over the live members): these wait for the fourth.
	testutil.Eventually(t, 30*time.Second, "the removals' epochs passed", func() bool {
		for _, r := range c.nodes[:3] {
			r.mu.Lock()
			n := 0
			for _, b := range r.gc.lww {
				n += len(b.items)
			}
			r.mu.Unlock()
			if n != 270 {
				return false
			}
		}
		return true
	})
	await([]int{0, 1, 2}, 90, 270, "the fourth still away")

	c.net.Heal()
	await([]int{0, 1, 2, 3}, 90, 0, "the fourth back")
	for i, r := range c.nodes {
		var late []byte
		r.Read(crdt.ObjKey{Type: crdt.TypeLWWMap, Key: "m"}, func(o crdt.Object) { late, _ = o.(*crdt.LWWMap).Get(field("b", 5)) })
		if late != nil {
			t.Fatalf("node %d holds the late write %q of a field removed after it", i+1, late)
		}
	}
	c.awaitConvergence("after collection")
}

// TestTombstonesOfMapsAndSetsAfterARestart removes map fields and set
// elements and restarts before they are collected: the restarted node
// reads them again from the records (a part at a time on the collection
// timer, not at hydration) and collects them.
func TestTombstonesOfMapsAndSetsAfterARestart(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	r := openReplica(t, Config{Store: st})
	km, ks := crdt.ObjKey{Type: crdt.TypeLWWMap, Key: "m"}, crdt.ObjKey{Type: crdt.TypeORSet, Key: "s"}
	for j := range 100 {
		f := []byte(fmt.Sprintf("f%03d", j))
		write(t, r, &crdt.Op{Kind: crdt.LWWMapSet, Key: km.Key, Field: f, Value: []byte("v")})
		write(t, r, &crdt.Op{Kind: crdt.ORSetAdd, Key: ks.Key, Field: f})
	}
	for j := range 90 {
		f := []byte(fmt.Sprintf("f%03d", j))
		write(t, r, &crdt.Op{Kind: crdt.LWWMapRemove, Key: km.Key, Field: f})
		write(t, r, &crdt.Op{Kind: crdt.ORSetRemove, Key: ks.Key, Field: f})
	}
	r.Close(context.Background())
	records := func(k crdt.ObjKey) (n int) {
		rows, err := st.Scan(store.CRDT, store.ScanOptions{Prefix: objPrefix(k)})
		if err != nil {
			t.Fatal(err)
		}
		return len(rows)
	}
	if records(km) != 100 || records(ks) != 100 {
		t.Fatalf("%d and %d records before the restart, want 100 each (90 with tombstones)", records(km), records(ks))
	}
	r = openReplica(t, Config{Store: st})
	defer r.Close(context.Background())
	if g := r.GC(); g.Pending != 0 {
		t.Fatalf("%d tombstones queued at hydration, want none (read on the timer)", g.Pending)
	}
	testutil.Eventually(t, 20*time.Second, "tombstones collected after the restart", func() bool {
		r.collectNow()
		return records(km) == 10 && records(ks) == 10 && r.GC().Pending == 0
	})
	var fields [][]byte
	r.Read(km, func(o crdt.Object) { fields, _ = o.(*crdt.LWWMap).Entries() })
	var elems [][]byte
	r.Read(ks, func(o crdt.Object) { elems = o.(*crdt.ORSet).Elements() })
	if len(fields) != 10 || string(fields[0]) != "f090" || len(elems) != 10 || string(elems[0]) != "f090" {
		t.Fatalf("after collection: fields %q, elements %q", fields, elems)
	}
}
