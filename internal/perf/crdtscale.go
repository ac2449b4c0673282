package perf

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/freeport"
	"github.com/numax/numax/internal/replica"
	"github.com/numax/numax/internal/store"
)

// scaleTypes are the collection types crdt-scale measures and the op that
// adds element i to each.
var scaleTypes = []struct {
	name string
	t    crdt.Type
	op   func(i int) *crdt.Op
}{
	{"orset", crdt.TypeORSet, func(i int) *crdt.Op { return &crdt.Op{Kind: crdt.ORSetAdd, Field: []byte(fmt.Sprintf("e%08d", i))} }},
	{"lww-map", crdt.TypeLWWMap, func(i int) *crdt.Op {
		return &crdt.Op{Kind: crdt.LWWMapSet, Field: []byte(fmt.Sprintf("f%08d", i)), Value: []byte("v")}
	}},
	{"rga", crdt.TypeRGA, func(int) *crdt.Op { return &crdt.Op{Kind: crdt.RGAInsert, Value: []byte("x")} }},
	{"text", crdt.TypeText, func(int) *crdt.Op { return &crdt.Op{Kind: crdt.TextInsert, Value: []byte("x")} }},
}

// CRDTScale measures writes on objects of 10 and of p.ScaleElems elements
// (ORSet add, LWW-Map set, RGA insert) through the path a user runs: the
// scalewriter guest under `nx run` (sync on, defaults) on a datastore seeded
// with the objects, timed by the guest; the ratio of the two rates is the
// target (>= 0.8). Second lines, in-process: reading a 100-element page
// from the middle of the large object, and the node's peak RSS.
func CRDTScale(ctx context.Context, p Profile, r *Report, dir, nx, guest string) error {
	data := filepath.Join(dir, "data")
	st, err := store.Open(store.DefaultConfig(data))
	if err != nil {
		return err
	}
	origin := strings.Repeat("a", 32)
	var seq uint64
	sizes := []int{10, p.ScaleElems}
	for _, ty := range scaleTypes {
		for _, n := range sizes {
			key := fmt.Sprintf("%s-%d", ty.name, n)
			if ty.t == crdt.TypeORSet || ty.t == crdt.TypeLWWMap {
				// Record by record: the bench holds no million-element object.
				if seq, err = replica.SeedOps(st, crdt.ObjKey{Type: ty.t, Key: key}, n, ty.op, origin, seq); err != nil {
					st.Close()
					return err
				}
				continue
			}
			if seq, err = seedSequence(st, ty.t, key, n, ty.op, origin, seq); err != nil {
				st.Close()
				return err
			}
		}
	}
	// Texts for inserts spread through them (scalewriter's text-spread).
	for _, n := range sizes {
		if seq, err = seedSequence(st, crdt.TypeText, fmt.Sprintf("text-spread-%d", n), n, scaleTypes[3].op, origin, seq); err != nil {
			st.Close()
			return err
		}
	}
	if err := st.Close(); err != nil {
		return err
	}
	var peak float64
	for _, ty := range scaleTypes {
		rates, steady := make([]float64, len(sizes)), make([]float64, len(sizes))
		for j, n := range sizes {
			ops := p.ScaleSmallOps
			if n > 10 {
				ops = p.ScaleOps
			}
			ms, first, rss, err := scaleRun(ctx, nx, guest, data, ty.name, fmt.Sprintf("%s-%d", ty.name, n), ops)
			if err != nil {
				return err
			}
			peak = max(peak, rss)
			rates[j] = float64(ops) / (max(ms, 1) / 1000)
			steady[j] = float64(ops-1) / (max(ms-first, 1) / 1000)
			r.Add(fmt.Sprintf("%s writes/s, object of %d", ty.name, n), rates[j], "ops/s", Info, "")
			r.Add(fmt.Sprintf("%s first write, object of %d", ty.name, n), first, "ms", Info, "")
			r.Add(fmt.Sprintf("%s writes/s after the first, object of %d", ty.name, n), steady[j], "ops/s", Info, "")
			if n > 10 {
				r.Add(fmt.Sprintf("peak RSS, writes to the %s of %d (the node holds all %d objects)", ty.name, n, 2*len(scaleTypes)), rss/1e6, "MB", Info, "")
			}
		}
		r.Add(fmt.Sprintf("%s writes/s, %d elements vs 10", ty.name, p.ScaleElems), rates[1]/rates[0], "ratio", Info, ">= 0.8")
		r.Add(fmt.Sprintf("%s writes/s after the first, %d elements vs 10", ty.name, p.ScaleElems), steady[1]/steady[0], "ratio", Info, ">= 0.8")
	}
	// Text inserts each far from the last: a write through a large Text's
	// view reads a chunk it has not read yet, nearly every time.
	var spread [2]float64
	for j, n := range sizes {
		ops := p.ScaleSmallOps
		if n > 10 {
			ops = p.ScaleOps
		}
		ms, _, _, err := scaleRun(ctx, nx, guest, data, "text-spread", fmt.Sprintf("text-spread-%d", n), ops)
		if err != nil {
			return err
		}
		spread[j] = float64(ops) / (max(ms, 1) / 1000)
		r.Add(fmt.Sprintf("text inserts spread through the text (each far from the last) writes/s, object of %d", n), spread[j], "ops/s", Info, "")
	}
	r.Add(fmt.Sprintf("text inserts spread through the text, %d elements vs 10", p.ScaleElems), spread[1]/spread[0], "ratio", Info, ">= 0.8")
	r.Add(fmt.Sprintf("peak RSS of the node (%d × %d elements)", len(scaleTypes), p.ScaleElems), peak/1e6, "MB", Info, "")
	if err := manyElements(ctx, p, r, dir, nx, guest); err != nil {
		return err
	}

	// The page read, in-process, through the paged readers the guest's
	// crdt_lww_map_scan, crdt_orset_scan, crdt_rga_slice and
	// crdt_text_read use.
	st, err = store.Open(store.DefaultConfig(data))
	if err != nil {
		return err
	}
	defer st.Close()
	rep, err := replica.Open(replica.Config{Store: st})
	if err != nil {
		return err
	}
	defer rep.Close(ctx)
	mid := p.ScaleElems / 2
	for round := range 2 {
		for _, ty := range scaleTypes {
			key := fmt.Sprintf("%s-%d", ty.name, p.ScaleElems)
			start := time.Now()
			var n int
			switch ty.t {
			case crdt.TypeLWWMap:
				rows, err := rep.ScanMap(key, []byte(fmt.Sprintf("f%08d", mid)), 100)
				if err != nil {
					return err
				}
				n = len(rows)
			case crdt.TypeORSet:
				elems, err := rep.ScanSet(key, []byte(fmt.Sprintf("e%08d", mid)), 100)
				if err != nil {
					return err
				}
				n = len(elems)
			case crdt.TypeRGA:
				n = len(rep.SliceRGA(key, uint64(mid), 100))
			case crdt.TypeText:
				s, err := rep.SliceText(key, uint64(mid), 100)
				if err != nil {
					return err
				}
				n = utf8.RuneCountInString(s)
			}
			took := time.Since(start)
			if n != 100 {
				return fmt.Errorf("crdt-scale: %s page of %d", ty.name, n)
			}
			if round == 0 {
				r.Add(fmt.Sprintf("%s: 100-element page from the middle of %d, first read after the start (in-process, paged reader)", ty.name, p.ScaleElems),
					float64(took.Microseconds())/1000, "ms", Info, "<= 1")
			} else {
				r.Add(fmt.Sprintf("%s: the same page read again", ty.name), float64(took.Microseconds())/1000, "ms", Info, "<= 1")
			}
		}
	}
	r.Note("Objects seeded in the datastore (replica.Seed), then `nx run` of the scalewriter guest (testdata/guests/scalewriter, "+
		"sync on over plain TCP, defaults) adding %d elements to an object of 10 and %d to one of %d, timed by the guest; "+
		"each write stores the records its op changed. The page read is in-process, through the paged readers behind "+
		"crdt_lww_map_scan and crdt_orset_scan (from the store's records), crdt_rga_slice and crdt_text_read (the "+
		"sequence's view: its directory, then a chunk). An RGA or a Text of 4 MiB or more in memory leaves a view in the "+
		"datastore when unloaded or at close (replica.Seed writes one, as a node leaves it); until something needs the "+
		"sequence whole, the writes here (inserts at the head) and the page reads go through the view without reading it "+
		"(docs/crdt.md, \"Views of large sequences\"); the 10-element objects are read whole. Text inserts spread through "+
		"the text (scalewriter text-spread: position stepped by a prime) read a chunk of the view nearly every write. The first write and the "+
		"first page read include reading the view's directory; the targets are shown with and without them. "+
		"The 10,000,000-element RSS figure is the many-elements run (maps and sets).", p.ScaleSmallOps, p.ScaleOps, p.ScaleElems)
	return nil
}

// scaleRun runs the scalewriter guest once and returns the milliseconds
// it reported for all the writes and for the first, and the node's peak
// RSS (bytes).
func scaleRun(ctx context.Context, nx, guest, data, typ, key string, ops int) (ms, firstMs, rss float64, err error) {
	listen, err := freeport.Addr()
	if err != nil {
		return 0, 0, 0, err
	}
	cmd := exec.CommandContext(ctx, nx, "run", guest, "--datastore-path", data, "--listen", listen, "--tls-insecure", "--settle-for", "0s", "--log-level", "error")
	cmd.Env = append(cmd.Environ(), "NX_TYPE="+typ, "NX_KEY="+key, "NX_OPS="+strconv.Itoa(ops))
	out, rss, err := outputAndPeak(cmd)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("crdt-scale %s %s: %v", typ, key, err)
	}
	var firstUs float64
	if n, _ := fmt.Sscanf(strings.TrimSpace(string(out)), "first_us %g\nelapsed_ms %g", &firstUs, &ms); n != 2 {
		return 0, 0, 0, fmt.Errorf("crdt-scale %s %s: guest printed %q", typ, key, out)
	}
	return ms, firstUs / 1000, rss, nil
}

// manyElements seeds ManyObjects maps and sets of ScaleElems elements each
// (10,000,000 elements in the full profile) and runs the scalewriter guest
// on one of them under nx run: the node's peak RSS is the figure (target
// <= 200 MB: maps and sets are read from the store, their resident
// elements bounded by [storage] crdt_cache).
func manyElements(ctx context.Context, p Profile, r *Report, dir, nx, guest string) error {
	data := filepath.Join(dir, "many")
	st, err := store.Open(store.DefaultConfig(data))
	if err != nil {
		return err
	}
	origin := strings.Repeat("b", 32)
	var seq uint64
	start := time.Now()
	for i := range p.ManyObjects {
		ty := scaleTypes[i%2] // orset, lww-map
		if seq, err = replica.SeedOps(st, crdt.ObjKey{Type: ty.t, Key: fmt.Sprintf("%s-%d", ty.name, i)}, p.ScaleElems, ty.op, origin, seq); err != nil {
			st.Close()
			return err
		}
	}
	if err := st.Close(); err != nil {
		return err
	}
	seeded := time.Since(start)
	start = time.Now()
	ms, _, rss, err := scaleRun(ctx, nx, guest, data, "orset", "orset-0", p.ScaleOps)
	if err != nil {
		return err
	}
	total := p.ManyObjects * p.ScaleElems
	r.Add(fmt.Sprintf("peak RSS of a node holding %d elements (%d maps and sets), %d writes", total, p.ManyObjects, p.ScaleOps), rss/1e6, "MB", Info, "<= 200")
	r.Add(fmt.Sprintf("the whole nx run on %d elements (start, hydrate, %d writes, stop)", total, p.ScaleOps), time.Since(start).Seconds(), "s", Info, "")
	r.Add(fmt.Sprintf("writes/s on a set of %d among %d elements", p.ScaleElems, total), float64(p.ScaleOps)/(max(ms, 1)/1000), "ops/s", Info, "")
	r.Note("Many elements: %d ORSets and LWW-Maps of %d elements each seeded record by record (%.0f s), then the scalewriter guest adds %d elements to one set under nx run (defaults: crdt_cache 64 MiB).",
		p.ManyObjects, p.ScaleElems, seeded.Seconds(), p.ScaleOps)
	return nil
}

// seedSequence writes an RGA or a Text of n elements, each inserted after
// the one before (typing; inserting every element at the head would cost
// O(n) each here), with seqs after seq, and returns the last seq.
func seedSequence(st *store.Store, t crdt.Type, key string, n int, mk func(int) *crdt.Op, origin string, seq uint64) (uint64, error) {
	obj := crdt.New(t)
	var prev crdt.OpID
	for i := range n {
		seq++
		op := mk(i)
		op.Origin, op.Seq, op.HLC, op.Key = origin, seq, 1<<40+seq, key
		op.Ref, prev = prev, op.ID()
		obj.Apply(op)
	}
	return seq, replica.Seed(st, crdt.ObjKey{Type: t, Key: key}, obj, origin, seq)
}
