package seqview

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/numax/numax/internal/crdt"
	"pgregory.net/rapid"
)

// elem is one element of the model: a Text's character (id, off) or an
// RGA's element (id, value).
type elem struct {
	id  crdt.OpID
	off uint64
	val []byte
}

// chunkStore is a map of flushed records, read back as a view would be.
type chunkStore map[string][]byte

func (s chunkStore) put(sub, v []byte) { s[string(sub)] = bytes.Clone(v) }
func (s chunkStore) del(sub []byte)    { delete(s, string(sub)) }
func (s chunkStore) read(id uint64) ([]byte, error) {
	v, ok := s[string(ChunkSub(id))]
	if !ok {
		return nil, errors.New("no such chunk")
	}
	return v, nil
}

// reopen flushes v and reads it back from its directory, no chunk read.
func reopen(t *rapid.T, v *View, st chunkStore) *View {
	v.Flush(st.put, st.del)
	w, err := Decode(v.Type(), st[string(DirSub)], st.read)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return w
}

func modelText(m []elem) string {
	var b []byte
	for _, e := range m {
		b = append(b, e.val...)
	}
	return string(b)
}

// TestProperty_ViewMatchesTheModel edits a view of a Text or an RGA at
// random — inserts, deletes, flushes, read back from its records, chunks
// released — and checks every read against a plain list of elements.
func TestProperty_ViewMatchesTheModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		typ := rapid.SampledFrom([]crdt.Type{crdt.TypeText, crdt.TypeRGA}).Draw(t, "type")
		origins := []string{strings.Repeat("a", 32), strings.Repeat("b", 32)}
		seq := uint64(0)
		newEntry := func(t *rapid.T) (Entry, []elem) {
			seq++
			id := crdt.OpID{Origin: rapid.SampledFrom(origins).Draw(t, "origin"), Seq: seq}
			if typ == crdt.TypeRGA {
				val := []byte(fmt.Sprintf("v%d", seq))
				return Entry{ID: id, N: 1, Val: val}, []elem{{id: id, val: val}}
			}
			s := rapid.StringMatching(`[a-zé€😀]{1,40}`).Draw(t, "text")
			var m []elem
			for i, r := range []rune(s) {
				m = append(m, elem{id: id, off: uint64(i), val: utf8.AppendRune(nil, r)})
			}
			return Entry{ID: id, N: uint64(len(m)), Val: []byte(s)}, m
		}
		// A starting sequence, built as a node builds one at unload.
		var model []elem
		var start []Entry
		for range rapid.IntRange(0, 300).Draw(t, "start") {
			e, m := newEntry(t)
			start = append(start, e)
			model = append(model, m...)
		}
		v := Build(typ, 7, func(yield func(Entry) bool) {
			for _, e := range start {
				if !yield(e) {
					return
				}
			}
		})
		st := chunkStore{}
		v = reopen(t, v, st)
		for range rapid.IntRange(1, 200).Draw(t, "steps") {
			switch rapid.IntRange(0, 10).Draw(t, "op") {
			case 0, 1, 2, 3:
				i := rapid.Uint64Range(0, uint64(len(model))).Draw(t, "at")
				e, m := newEntry(t)
				if err := v.Insert(i, e, seq+100); err != nil {
					t.Fatalf("insert at %d: %v", i, err)
				}
				model = append(model[:i], append(m, model[i:]...)...)
			case 4, 5, 6:
				if len(model) == 0 {
					continue
				}
				i := rapid.Uint64Range(0, uint64(len(model))-1).Draw(t, "from")
				n := rapid.Uint64Range(1, min(uint64(len(model))-i, 600)).Draw(t, "n")
				if typ == crdt.TypeText {
					rs, covered, err := v.Ranges(i, n, 1<<20)
					if err != nil || covered != n {
						t.Fatalf("ranges [%d,+%d): %v, %d covered", i, n, err, covered)
					}
					k := i
					for _, r := range rs {
						for o := r.Off; o < r.Off+r.N; o++ {
							if model[k].id != r.Run || model[k].off != o {
								t.Fatalf("range %v names %v/%d at %d, the model has %v/%d", r, r.Run, o, k, model[k].id, model[k].off)
							}
							k++
						}
					}
				}
				if err := v.Delete(i, n); err != nil {
					t.Fatalf("delete [%d,+%d): %v", i, n, err)
				}
				model = append(model[:i], model[i+n:]...)
			case 7:
				v = reopen(t, v, st)
			case 8:
				v.Flush(st.put, st.del)
				v.Release()
			case 10: // Find: the last element always, any other where held
				if typ != crdt.TypeRGA || len(model) == 0 {
					continue
				}
				i := rapid.Uint64Range(0, uint64(len(model))-1).Draw(t, "find")
				if rapid.Bool().Draw(t, "last") {
					i = uint64(len(model)) - 1
				}
				at, ok, err := v.Find(model[i].id)
				if err != nil || (ok && at != i) || (!ok && i == uint64(len(model))-1) {
					t.Fatalf("Find(%v) = %d, %v, %v; the model has it at %d of %d", model[i].id, at, ok, err, i, len(model))
				}
			case 9:
				if len(model) == 0 {
					continue
				}
				i := rapid.Uint64Range(0, uint64(len(model))-1).Draw(t, "at")
				id, off, err := v.At(i)
				if err != nil || id != model[i].id || off != model[i].off {
					t.Fatalf("At(%d) = %v/%d, %v; the model has %v/%d", i, id, off, err, model[i].id, model[i].off)
				}
			}
			if v.Len() != uint64(len(model)) {
				t.Fatalf("Len %d, the model has %d", v.Len(), len(model))
			}
		}
		check := func(v *View) {
			if typ == crdt.TypeText {
				got, err := v.Text(0, v.Len())
				if err != nil || got != modelText(model) {
					t.Fatalf("text %q (%v), the model has %q", got, err, modelText(model))
				}
				from := rapid.Uint64Range(0, uint64(len(model))).Draw(t, "page")
				page, _ := v.Text(from, 17)
				if want := modelText(model[from:min(from+17, uint64(len(model)))]); page != want {
					t.Fatalf("page at %d: %q, the model has %q", from, page, want)
				}
				return
			}
			vals, err := v.Values(0, v.Len()+1)
			if err != nil || len(vals) != len(model) {
				t.Fatalf("%d values (%v), the model has %d", len(vals), err, len(model))
			}
			for i, val := range vals {
				if !bytes.Equal(val, model[i].val) {
					t.Fatalf("value %d: %q, the model has %q", i, val, model[i].val)
				}
			}
		}
		check(v)
		check(reopen(t, v, st))
		if v.MaxHLC() < 7 {
			t.Fatalf("MaxHLC %d below the built one", v.MaxHLC())
		}
	})
}

// TestView_ChunksStayBounded types a long text at one place and checks the
// chunks split as they fill, so an edit rewrites one chunk of bounded size.
func TestView_ChunksStayBounded(t *testing.T) {
	v := Build(crdt.TypeText, 0, func(func(Entry) bool) {})
	for i := range 20000 {
		id := crdt.OpID{Origin: strings.Repeat("a", 32), Seq: uint64(i + 1)}
		if err := v.Insert(uint64(i/2), Entry{ID: id, N: 1, Val: []byte("x")}, uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	st := chunkStore{}
	v.Flush(st.put, st.del)
	for sub, val := range st {
		if sub[0] == 'c' && len(val) > 2*maxChunkBytes {
			t.Errorf("chunk of %d bytes", len(val))
		}
	}
	if n := len(v.chunks); n < 20000/maxChunkEntries {
		t.Errorf("%d chunks for 20,000 one-character entries", n)
	}
	if v.MaxHLC() != 19999 {
		t.Errorf("MaxHLC %d, want 19999", v.MaxHLC())
	}
	// At the head and at the end (a full chunk gets a new one beside it).
	want, _ := v.Text(0, v.Len())
	for i := range 1000 {
		a := crdt.OpID{Origin: strings.Repeat("b", 32), Seq: uint64(2*i + 1)}
		z := crdt.OpID{Origin: strings.Repeat("b", 32), Seq: uint64(2*i + 2)}
		if err := v.Insert(0, Entry{ID: a, N: 1, Val: []byte("a")}, 1); err != nil {
			t.Fatal(err)
		}
		if err := v.Insert(v.Len(), Entry{ID: z, N: 2, Val: []byte("zé")}, 1); err != nil {
			t.Fatal(err)
		}
		want = "a" + want + "zé"
	}
	v = reopenT(t, v, st)
	if got, err := v.Text(0, v.Len()); err != nil || got != want {
		t.Fatalf("after inserts at the head and the end: %d bytes (%v), want %d", len(got), err, len(want))
	}
	for _, c := range v.chunks {
		if err := v.load(slices.Index(v.chunks, c)); err != nil || len(c.entries) > maxChunkEntries {
			t.Fatalf("chunk of %d entries (%v)", len(c.entries), err)
		}
	}
}

func reopenT(t *testing.T, v *View, st chunkStore) *View {
	t.Helper()
	v.Flush(st.put, st.del)
	w, err := Decode(v.Type(), st[string(DirSub)], st.read)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestDecode_RefusesMalformed checks that a damaged directory or chunk is
// an error wrapping ErrCorrupt, never a view that reads wrong.
func TestDecode_RefusesMalformed(t *testing.T) {
	v := Build(crdt.TypeText, 3, func(yield func(Entry) bool) {
		yield(Entry{ID: crdt.OpID{Origin: "o", Seq: 1}, N: 2, Val: []byte("hé")})
	})
	st := chunkStore{}
	v.Flush(st.put, st.del)
	dir := st[string(DirSub)]
	chunk := st[string(ChunkSub(0))]
	for _, tc := range []struct {
		name  string
		dir   []byte
		chunk []byte
	}{
		{"empty directory", nil, chunk},
		{"other version", append([]byte{9}, dir[1:]...), chunk},
		{"other type", append([]byte{Version, byte(crdt.TypeRGA)}, dir[2:]...), chunk},
		{"trailing bytes", append(bytes.Clone(dir), 0), chunk},
		{"chunk count past the end", append(bytes.Clone(dir[:len(dir)-3]), 200), chunk},
		{"chunk length other than the directory's", dir, bytes.Replace(chunk, []byte("hé"), []byte("hi"), 1)},
		{"chunk not UTF-8", dir, bytes.Replace(chunk, []byte("é"), []byte{0xff, 0xfe}, 1)},
		{"chunk cut short", dir, chunk[:len(chunk)-1]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := Decode(crdt.TypeText, tc.dir, func(uint64) ([]byte, error) { return tc.chunk, nil })
			if err == nil {
				_, err = w.Text(0, w.Len())
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
		})
	}
}

// FuzzDecode reads arbitrary directories and chunks: an error or a view
// whose reads end in an error or an answer, never a panic.
func FuzzDecode(f *testing.F) {
	for _, typ := range []crdt.Type{crdt.TypeText, crdt.TypeRGA} {
		v := Build(typ, 5, func(yield func(Entry) bool) {
			yield(Entry{ID: crdt.OpID{Origin: "o", Seq: 1}, N: 2, Val: []byte("hé")[:min(3, 3)]})
			yield(Entry{ID: crdt.OpID{Origin: "p", Seq: 2}, N: 1, Val: []byte("x")})
		})
		if typ == crdt.TypeRGA {
			v = Build(typ, 5, func(yield func(Entry) bool) {
				yield(Entry{ID: crdt.OpID{Origin: "o", Seq: 1}, N: 1, Val: []byte("hé")})
			})
		}
		st := chunkStore{}
		v.Flush(st.put, st.del)
		f.Add(typ == crdt.TypeText, st[string(DirSub)], st[string(ChunkSub(0))])
	}
	f.Fuzz(func(t *testing.T, text bool, dir, chunk []byte) {
		typ := crdt.TypeRGA
		if text {
			typ = crdt.TypeText
		}
		v, err := Decode(typ, dir, func(uint64) ([]byte, error) { return chunk, nil })
		if err != nil {
			return
		}
		if typ == crdt.TypeText {
			if s, err := v.Text(0, v.Len()); err == nil && !utf8.ValidString(s) {
				t.Fatalf("text %q not UTF-8", s)
			}
			_, _, _ = v.Ranges(0, v.Len(), 8)
		} else {
			_, _ = v.Values(0, 100)
		}
		if v.Len() > 0 {
			_, _, _ = v.At(v.Len() - 1)
			_ = v.Delete(0, 1)
		}
	})
}

// BenchmarkOpenAndPage reads a page from the middle of a 1,000,000-element
// view from its stored records: the directory, then a chunk.
func BenchmarkOpenAndPage(b *testing.B) {
	v := Build(crdt.TypeText, 1, func(yield func(Entry) bool) {
		for i := range 1000000 {
			if !yield(Entry{ID: crdt.OpID{Origin: strings.Repeat("a", 32), Seq: uint64(i + 1)}, N: 1, Val: []byte("x")}) {
				return
			}
		}
	})
	st := chunkStore{}
	v.Flush(st.put, st.del)
	b.ReportMetric(float64(len(st[string(DirSub)])), "dir-bytes")
	for b.Loop() {
		w, err := Decode(crdt.TypeText, st[string(DirSub)], st.read)
		if err != nil {
			b.Fatal(err)
		}
		if s, err := w.Text(500000, 100); err != nil || len(s) != 100 {
			b.Fatal(len(s), err)
		}
	}
}

// BenchmarkInsertAtHead inserts one-character entries at index 0 of a
// 1,000,000-element view, as crdt-scale's writes do.
func BenchmarkInsertAtHead(b *testing.B) {
	v := Build(crdt.TypeText, 1, func(yield func(Entry) bool) {
		for i := range 1000000 {
			if !yield(Entry{ID: crdt.OpID{Origin: strings.Repeat("a", 32), Seq: uint64(i + 1)}, N: 1, Val: []byte("x")}) {
				return
			}
		}
	})
	seq := uint64(2000000)
	for b.Loop() {
		seq++
		if err := v.Insert(0, Entry{ID: crdt.OpID{Origin: strings.Repeat("a", 32), Seq: seq}, N: 1, Val: []byte("y")}, seq); err != nil {
			b.Fatal(err)
		}
	}
}
