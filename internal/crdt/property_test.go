package crdt

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"pgregory.net/rapid"
)

var origins = []string{
	"0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a",
	"1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b",
	"2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c",
}

// genHistory draws a causally plausible history: per-origin seqs 1, 2, ...,
// per-origin increasing HLCs that may tie across origins, removes that name
// earlier add tags, RGA inserts under earlier elements, deletes of earlier
// elements. Only the given kinds are drawn.
func genHistory(t *rapid.T, kinds []Kind) []*Op {
	n := rapid.IntRange(1, 60).Draw(t, "n")
	seq := map[string]uint64{}
	hlc := map[string]uint64{}
	var adds []*Op     // ORSet adds so far
	var inserts []OpID // RGA elements so far
	var runs []*Op     // Text inserts so far
	keys := []string{"a", "b"}
	vals := [][]byte{[]byte("x"), []byte("y"), []byte("zz"), {}}
	var ops []*Op
	for i := 0; i < n; i++ {
		o := rapid.SampledFrom(origins).Draw(t, "origin")
		seq[o]++
		hlc[o] = max(hlc[o]+1, uint64(rapid.IntRange(1, 40).Draw(t, "hlc")))
		op := &Op{Origin: o, Seq: seq[o], HLC: hlc[o], Kind: rapid.SampledFrom(kinds).Draw(t, "kind"),
			Key: rapid.SampledFrom(keys).Draw(t, "key")}
		switch op.Kind {
		case GCounterInc, PNCounterInc, PNCounterDec:
			op.Delta = rapid.SampledFrom([]uint64{0, 1, 7, 1 << 62, 1<<64 - 1}).Draw(t, "delta")
		case LWWSet:
			op.Value = rapid.SampledFrom(vals).Draw(t, "value")
		case LWWMapSet:
			op.Field = []byte(rapid.SampledFrom(keys).Draw(t, "field"))
			op.Value = rapid.SampledFrom(vals).Draw(t, "value")
		case LWWMapRemove:
			op.Field = []byte(rapid.SampledFrom(keys).Draw(t, "field"))
		case ORSetAdd:
			op.Field = rapid.SampledFrom(vals).Draw(t, "elem")
			adds = append(adds, op)
		case ORSetRemove:
			op.Field = rapid.SampledFrom(vals).Draw(t, "elem")
			for _, a := range adds {
				if a.Key == op.Key && bytes.Equal(a.Field, op.Field) && rapid.Bool().Draw(t, "observed") {
					op.Tags = append(op.Tags, a.ID())
				}
			}
		case RGAInsert:
			if len(inserts) > 0 && rapid.IntRange(0, 3).Draw(t, "at-head") > 0 {
				op.Ref = rapid.SampledFrom(inserts).Draw(t, "parent")
			}
			op.Value = rapid.SampledFrom(vals).Draw(t, "value")
			inserts = append(inserts, op.ID())
		case RGADelete:
			if len(inserts) == 0 {
				op.Kind, op.Value = RGAInsert, []byte("first")
				inserts = append(inserts, op.ID())
				break
			}
			op.Ref = rapid.SampledFrom(inserts).Draw(t, "target")
		case TextInsert, TextDelete:
			genText(t, op, &runs, hlc)
		}
		ops = append(ops, op)
	}
	return ops
}

// genText fills a Text op: an insert after the start or a character of an
// earlier run of its key (its HLC above that run's: the writer saw it), or a
// delete of spans of earlier runs.
func genText(t *rapid.T, op *Op, runs *[]*Op, hlc map[string]uint64) {
	var mine []*Op
	for _, r := range *runs {
		if r.Key == op.Key {
			mine = append(mine, r)
		}
	}
	if op.Kind == TextDelete && len(mine) == 0 {
		op.Kind = TextInsert
	}
	if op.Kind == TextInsert {
		op.Value = []byte(rapid.SampledFrom([]string{"a", "bc", "déf", "g\u00e9h\U0001F600"}).Draw(t, "text"))
		if len(mine) > 0 && rapid.IntRange(0, 3).Draw(t, "at-start") > 0 {
			p := rapid.SampledFrom(mine).Draw(t, "parent")
			op.Ref, op.Delta = p.ID(), uint64(rapid.IntRange(0, utf8.RuneCount(p.Value)-1).Draw(t, "offset"))
			op.HLC = max(op.HLC, p.HLC+1)
			hlc[op.Origin] = op.HLC
		}
		*runs = append(*runs, op)
		return
	}
	var rs []TextRange
	for i := rapid.IntRange(1, 3).Draw(t, "ranges"); i > 0; i-- {
		r := rapid.SampledFrom(mine).Draw(t, "run")
		n := utf8.RuneCount(r.Value)
		off := rapid.IntRange(0, n-1).Draw(t, "from")
		rs = append(rs, TextRange{Run: r.ID(), Off: uint64(off), N: uint64(rapid.IntRange(1, n-off).Draw(t, "count"))})
	}
	op.Value = AppendTextRanges(nil, rs)
}

var allKinds = []Kind{GCounterInc, PNCounterInc, PNCounterDec, LWWSet, LWWMapSet, LWWMapRemove, ORSetAdd, ORSetRemove,
	RGAInsert, RGADelete, TextInsert, TextDelete}

var kindsByType = map[string][]Kind{
	"gcounter":     {GCounterInc},
	"pncounter":    {PNCounterInc, PNCounterDec},
	"lww-register": {LWWSet},
	"lww-map":      {LWWMapSet, LWWMapRemove},
	"orset":        {ORSetAdd, ORSetRemove},
	"rga":          {RGAInsert, RGADelete},
	"text":         {TextInsert, TextInsert, TextDelete},
	"all":          allKinds,
}

func inOrder(ops []*Op) *State {
	s := NewState()
	for _, op := range ops {
		s.Deliver(op)
	}
	return s
}

// digest is the state's canonical encoding and, for Text objects, their
// visible text (equal runs must also give equal strings).
func digest(s *State) []byte {
	b := s.AppendBinary(nil)
	for _, k := range slices.SortedFunc(maps.Keys(s.Objects), func(a, b ObjKey) int { return strings.Compare(a.Key, b.Key) }) {
		if t, ok := s.Objects[k].(*Text); ok {
			b = append(append(b, k.Key...), t.String()...)
		}
	}
	return b
}

func requireEqual(t *rapid.T, what string, a, b *State) {
	if !bytes.Equal(digest(a), digest(b)) {
		t.Fatalf("%s: states differ\n%s\n%s", what, dump(a), dump(b))
	}
}

func dump(s *State) string {
	out := fmt.Sprintf("vv=%v", s.VV)
	for k, o := range s.Objects {
		out += fmt.Sprintf("\n  %s/%s: %x", k.Type, k.Key, o.AppendBinary(nil))
	}
	return out
}

// subset delivers a random subset of ops (in a random order) to a new state.
func subset(t *rapid.T, ops []*Op, label string) *State {
	s := NewState()
	for _, i := range rapid.Permutation(indexes(len(ops))).Draw(t, label+"-order") {
		if rapid.Bool().Draw(t, label+"-take") {
			s.Deliver(ops[i])
		}
	}
	return s
}

func indexes(n int) []int {
	ix := make([]int, n)
	for i := range ix {
		ix[i] = i
	}
	return ix
}

func TestProperty_DeliveryOrderDoesNotMatter(t *testing.T) {
	for name, kinds := range kindsByType {
		t.Run(name, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				ops := genHistory(t, kinds)
				want := inOrder(ops)
				// Any permutation, with duplicates, through exactly-once delivery.
				var shuffled []*Op
				for _, i := range rapid.Permutation(indexes(len(ops))).Draw(t, "perm") {
					shuffled = append(shuffled, ops[i])
					if rapid.IntRange(0, 4).Draw(t, "dup") == 0 {
						shuffled = append(shuffled, ops[i])
					}
				}
				got := inOrder(shuffled)
				if got.Pending() != 0 {
					t.Fatalf("%d ops still pending after every op arrived", got.Pending())
				}
				requireEqual(t, "permutation", want, got)
			})
		})
	}
}

func TestProperty_MergeLaws(t *testing.T) {
	for name, kinds := range kindsByType {
		t.Run(name, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				ops := genHistory(t, kinds)
				a, b, c := subset(t, ops, "a"), subset(t, ops, "b"), subset(t, ops, "c")
				merge := func(x, y *State) *State { m := x.Clone(); m.Merge(y); return m }
				requireEqual(t, "commutative", merge(a, b), merge(b, a))
				requireEqual(t, "associative", merge(merge(a, b), c), merge(a, merge(b, c)))
				requireEqual(t, "idempotent", merge(a, a), a)
			})
		})
	}
}

// Ops split across replicas then merged state-wise give the state of
// delivering every op to one replica.
func TestProperty_OpAndStatePathsAgree(t *testing.T) {
	for name, kinds := range kindsByType {
		t.Run(name, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				ops := genHistory(t, kinds)
				replicas := []*State{NewState(), NewState(), NewState()}
				for _, op := range ops {
					// each op reaches at least one replica, maybe more
					first := rapid.IntRange(0, 2).Draw(t, "home")
					replicas[first].Deliver(op)
					for i, r := range replicas {
						if i != first && rapid.IntRange(0, 3).Draw(t, "copy") == 0 {
							r.Deliver(op)
						}
					}
				}
				merged := NewState()
				for _, r := range replicas {
					merged.Merge(r)
					// Merged state may still wait on ops a replica buffered
					// behind a gap it never saw filled: deliver them all.
				}
				for _, op := range ops {
					merged.Deliver(op)
				}
				requireEqual(t, "state path", inOrder(ops), merged)
			})
		})
	}
}

// Canonical encodings round-trip through Decode for every reachable state.
func TestProperty_EncodingRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := inOrder(genHistory(t, allKinds))
		for k, obj := range s.Objects {
			enc := obj.AppendBinary(nil)
			dec, err := Decode(k.Type, enc)
			if err != nil {
				t.Fatalf("%s: %v", k.Type, err)
			}
			if !bytes.Equal(dec.AppendBinary(nil), enc) {
				t.Fatalf("%s: re-encoding differs", k.Type)
			}
		}
		for _, op := range genHistory(t, allKinds) {
			got, err := DecodeOp(AppendOp(nil, op))
			if err != nil {
				t.Fatalf("DecodeOp: %v", err)
			}
			if !bytes.Equal(AppendOp(nil, got), AppendOp(nil, op)) {
				t.Fatal("op re-encoding differs")
			}
		}
	})
}
