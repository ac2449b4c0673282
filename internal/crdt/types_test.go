package crdt

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
)

var (
	nodeA = strings.Repeat("a", 32)
	nodeB = strings.Repeat("b", 32)
)

func TestGCounter_Saturates(t *testing.T) {
	g := &GCounter{}
	g.Apply(&Op{Origin: nodeA, Delta: math.MaxUint64 - 1})
	g.Apply(&Op{Origin: nodeA, Delta: 5})
	g.Apply(&Op{Origin: nodeB, Delta: 10})
	if g.Slots[nodeA] != math.MaxUint64 || g.Value() != math.MaxUint64 {
		t.Fatalf("slot %d value %d", g.Slots[nodeA], g.Value())
	}
}

func TestPNCounter_ClampsToInt64(t *testing.T) {
	tests := []struct {
		name string
		p, n uint64
		want int64
	}{
		{"zero", 0, 0, 0},
		{"positive", 10, 3, 7},
		{"negative", 3, 10, -7},
		{"max", math.MaxUint64, 0, math.MaxInt64},
		{"min", 0, math.MaxUint64, math.MinInt64},
		{"exactly_min", 0, 1 << 63, math.MinInt64},
		{"one_above_min", 0, 1<<63 - 1, -(1<<63 - 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &PNCounter{}
			p.Apply(&Op{Origin: nodeA, Kind: PNCounterInc, Delta: tt.p})
			p.Apply(&Op{Origin: nodeA, Kind: PNCounterDec, Delta: tt.n})
			if got := p.Value(); got != tt.want {
				t.Fatalf("Value = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestLWWRegister_Ordering(t *testing.T) {
	tests := []struct {
		name string
		ops  []*Op
		want string
	}{
		{"later_hlc_wins", []*Op{{Origin: nodeB, HLC: 5, Value: []byte("old")}, {Origin: nodeA, HLC: 6, Value: []byte("new")}}, "new"},
		{"earlier_hlc_loses", []*Op{{Origin: nodeA, HLC: 6, Value: []byte("new")}, {Origin: nodeB, HLC: 5, Value: []byte("old")}}, "new"},
		{"tie_larger_writer_wins", []*Op{{Origin: nodeB, HLC: 5, Value: []byte("b")}, {Origin: nodeA, HLC: 5, Value: []byte("a")}}, "b"},
		{"exact_tie_larger_bytes_win", []*Op{{Origin: nodeA, HLC: 5, Value: []byte("x")}, {Origin: nodeA, HLC: 5, Value: []byte("y")}}, "y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &LWWRegister{}
			for _, o := range tt.ops {
				r.Apply(o)
			}
			if string(r.Value) != tt.want {
				t.Fatalf("value %q, want %q", r.Value, tt.want)
			}
		})
	}
}

func TestLWWMap_TombstoneWinsExactTie(t *testing.T) {
	for _, order := range []string{"set_first", "remove_first"} {
		t.Run(order, func(t *testing.T) {
			m := &LWWMap{}
			set := &Op{Origin: nodeA, HLC: 9, Kind: LWWMapSet, Field: []byte("f"), Value: []byte("v")}
			rm := &Op{Origin: nodeA, HLC: 9, Kind: LWWMapRemove, Field: []byte("f")}
			if order == "set_first" {
				m.Apply(set)
				m.Apply(rm)
			} else {
				m.Apply(rm)
				m.Apply(set)
			}
			if _, ok := m.Get([]byte("f")); ok {
				t.Fatal("value beat a tombstone with the same stamp")
			}
		})
	}
	m := &LWWMap{}
	m.Apply(&Op{Origin: nodeA, HLC: 9, Kind: LWWMapRemove, Field: []byte("f")})
	m.Apply(&Op{Origin: nodeA, HLC: 10, Kind: LWWMapSet, Field: []byte("f"), Value: []byte("back")})
	m.Apply(&Op{Origin: nodeA, HLC: 1, Kind: LWWMapSet, Field: []byte("g"), Value: []byte("1")})
	f, v := m.Entries()
	if len(f) != 2 || string(f[0]) != "f" || string(v[0]) != "back" || string(f[1]) != "g" {
		t.Fatalf("entries %q %q", f, v)
	}
}

func TestORSet_ObservedRemove(t *testing.T) {
	add1 := &Op{Origin: nodeA, Seq: 1, Kind: ORSetAdd, Field: []byte("x")}
	add2 := &Op{Origin: nodeB, Seq: 1, Kind: ORSetAdd, Field: []byte("x")}
	rm1 := &Op{Origin: nodeB, Seq: 2, Kind: ORSetRemove, Field: []byte("x"), Tags: []OpID{add1.ID()}}

	t.Run("remove_before_add", func(t *testing.T) {
		s := &ORSet{}
		s.Apply(rm1)
		s.Apply(add1)
		if s.Contains([]byte("x")) {
			t.Fatal("add resurrected by arriving after its remove")
		}
	})
	t.Run("concurrent_add_survives", func(t *testing.T) {
		s := &ORSet{}
		s.Apply(add1)
		s.Apply(add2)
		s.Apply(rm1) // observed only add1
		if !s.Contains([]byte("x")) || len(s.Observed([]byte("x"))) != 1 {
			t.Fatal("unobserved concurrent add was removed")
		}
	})
	t.Run("elements_sorted", func(t *testing.T) {
		s := &ORSet{}
		s.Apply(&Op{Origin: nodeA, Seq: 2, Kind: ORSetAdd, Field: []byte("b")})
		s.Apply(&Op{Origin: nodeA, Seq: 3, Kind: ORSetAdd, Field: []byte("a")})
		if got := s.Elements(); len(got) != 2 || string(got[0]) != "a" {
			t.Fatalf("%q", got)
		}
	})
}

func visible(r *RGA) string {
	var b []string
	for _, e := range r.Visible() {
		b = append(b, string(e.Value))
	}
	return strings.Join(b, "")
}

func TestRGA_Order(t *testing.T) {
	ins := func(origin string, seq, hlc uint64, parent OpID, v string) *Op {
		return &Op{Origin: origin, Seq: seq, HLC: hlc, Kind: RGAInsert, Ref: parent, Value: []byte(v)}
	}
	h := ins(nodeA, 1, 10, OpID{}, "H")
	e := ins(nodeA, 2, 11, h.ID(), "e")
	y := ins(nodeA, 3, 12, e.ID(), "y")
	t.Run("typing", func(t *testing.T) {
		r := &RGA{}
		for _, o := range []*Op{h, e, y} {
			r.Apply(o)
		}
		if got := visible(r); got != "Hey" {
			t.Fatalf("%q", got)
		}
	})
	t.Run("insert_lands_after_parent_ahead_of_older_siblings", func(t *testing.T) {
		r := &RGA{}
		for _, o := range []*Op{h, e, y, ins(nodeB, 1, 20, h.ID(), "!")} {
			r.Apply(o)
		}
		if got := visible(r); got != "H!ey" {
			t.Fatalf("%q", got)
		}
	})
	t.Run("concurrent_siblings_same_order_everywhere", func(t *testing.T) {
		x := ins(nodeA, 4, 30, h.ID(), "x")
		z := ins(nodeB, 1, 30, h.ID(), "z") // same HLC: larger origin first
		for _, order := range [][]*Op{{h, x, z}, {h, z, x}, {z, x, h}} {
			r := &RGA{}
			for _, o := range order {
				r.Apply(o)
			}
			if got := visible(r); got != "Hzx" {
				t.Fatalf("order %v: %q", order, got)
			}
		}
	})
	t.Run("tombstone_keeps_children_in_place", func(t *testing.T) {
		r := &RGA{}
		for _, o := range []*Op{h, e, y, {Origin: nodeB, Seq: 1, Kind: RGADelete, Ref: e.ID()}} {
			r.Apply(o)
		}
		if got := visible(r); got != "Hy" {
			t.Fatalf("%q", got)
		}
		r.Apply(ins(nodeB, 2, 40, e.ID(), "a")) // insert after the tombstone
		if got := visible(r); got != "Hay" {
			t.Fatalf("%q", got)
		}
	})
	t.Run("missing_parent_hidden_until_it_arrives", func(t *testing.T) {
		r := &RGA{}
		r.Apply(y) // parent e missing, grandparent h missing
		if got := visible(r); got != "" {
			t.Fatalf("orphan visible: %q", got)
		}
		r.Apply(h)
		if got := visible(r); got != "H" {
			t.Fatalf("%q", got)
		}
		r.Apply(e)
		if got := visible(r); got != "Hey" {
			t.Fatalf("%q", got)
		}
	})
	t.Run("delete_before_insert", func(t *testing.T) {
		r := &RGA{}
		r.Apply(h)
		r.Apply(&Op{Origin: nodeB, Seq: 1, Kind: RGADelete, Ref: e.ID()})
		r.Apply(e)
		if got := visible(r); got != "H" {
			t.Fatalf("%q", got)
		}
	})
	t.Run("long_chain_no_recursion", func(t *testing.T) {
		r := &RGA{}
		parent := OpID{}
		for i := uint64(1); i <= 100_000; i++ {
			o := ins(nodeA, i, i, parent, "x")
			r.Apply(o)
			parent = o.ID()
		}
		if n := len(r.Visible()); n != 100_000 {
			t.Fatalf("%d visible", n)
		}
	})
}

func TestState_ExactlyOnce(t *testing.T) {
	s := NewState()
	s.MaxPending = 2
	inc := func(seq uint64) *Op { return &Op{Origin: nodeA, Seq: seq, Kind: GCounterInc, Key: "c", Delta: 1} }
	steps := []struct {
		seq     uint64
		want    Delivery
		applied int
	}{
		{1, Applied, 1},
		{1, Duplicate, 0},
		{3, Buffered, 0},
		{3, Duplicate, 0},
		{4, Buffered, 0},
		{5, Dropped, 0}, // buffer full
		{2, Applied, 3}, // releases 3 and 4
		{4, Duplicate, 0},
		{5, Applied, 1},
	}
	for i, st := range steps {
		got, applied := s.Deliver(inc(st.seq))
		if got != st.want || len(applied) != st.applied {
			t.Fatalf("step %d (seq %d): %v with %d applied, want %v with %d", i, st.seq, got, len(applied), st.want, st.applied)
		}
	}
	if v := s.Get(ObjKey{TypeGCounter, "c"}).(*GCounter).Value(); v != 5 || s.VV[nodeA] != 5 {
		t.Fatalf("value %d vv %d", v, s.VV[nodeA])
	}
}

func TestClock_NeverGoesBack(t *testing.T) {
	wall := int64(1000)
	c := &Clock{Wall: func() int64 { return wall }}
	a := c.Next()
	wall = 900 // the wall clock steps back
	b := c.Next()
	c.Observe(a + 1000)
	d := c.Next()
	if !(b > a && d > a+1000) || HLCTime(a) != 1000 {
		t.Fatalf("a=%d b=%d d=%d", a, b, d)
	}
	r := &Clock{Wall: func() int64 { return 0 }}
	r.Restore(d)
	if r.Next() <= d {
		t.Fatal("restored clock went back")
	}
}

func TestDecode_Refusals(t *testing.T) {
	g := (&GCounter{Slots: map[string]uint64{nodeA: 3}}).AppendBinary(nil)
	tests := []struct {
		name string
		t    Type
		in   []byte
		want error
	}{
		{"future_version", TypeGCounter, append([]byte{2}, g[1:]...), &VersionError{}},
		{"wrong_type", TypePNCounter, g, ErrCorrupt},
		{"trailing", TypeGCounter, append(bytes.Clone(g), 0), ErrCorrupt},
		{"truncated", TypeGCounter, g[:len(g)-1], ErrCorrupt},
		{"huge_count", TypeORSet, []byte{1, byte(TypeORSet), 0xff, 0xff, 0xff, 0xff, 0x0f}, ErrCorrupt},
		{"bad_node_id", TypeGCounter, []byte{1, 1, 1, 2, 'x', 'y', 1}, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.t, tt.in)
			var ve *VersionError
			if _, isVersion := tt.want.(*VersionError); isVersion {
				if !errors.As(err, &ve) || ve.Version != 2 {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := DecodeOp(AppendOp(nil, &Op{Origin: nodeA, Seq: 1, Kind: RGADelete, Key: "k"})); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("RGA delete without id: %v", err)
	}
	if _, err := DecodeOp(AppendOp(nil, &Op{Origin: "short", Seq: 1, Kind: GCounterInc})); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("bad origin: %v", err)
	}
}

// BenchmarkState_DeliverReversed delivers a full gap buffer's worth of ops
// newest first, so every op but the last is buffered and the last releases
// them all: the release must cost O(buffered), not O(buffered²).
func BenchmarkState_DeliverReversed(b *testing.B) {
	const n = DefaultMaxPending
	ops := make([]*Op, n)
	for i := range ops {
		ops[i] = &Op{Origin: nodeA, Seq: uint64(n - i), Kind: GCounterInc, Key: "c", Delta: 1}
	}
	b.ReportAllocs()
	for b.Loop() {
		s := NewState()
		for _, op := range ops {
			s.Deliver(op)
		}
		if s.VV[nodeA] != n {
			b.Fatalf("vv %d, want %d", s.VV[nodeA], n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/op-delivered")
}
