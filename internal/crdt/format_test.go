package crdt

import "testing"

func TestFormat(t *testing.T) {
	s := NewState()
	ops := []*Op{
		{Origin: nodeA, Seq: 1, Kind: GCounterInc, Key: "g", Delta: 3},
		{Origin: nodeA, Seq: 2, Kind: PNCounterDec, Key: "p", Delta: 2},
		{Origin: nodeA, Seq: 3, HLC: 1, Kind: LWWSet, Key: "r", Value: []byte("text")},
		{Origin: nodeA, Seq: 4, HLC: 2, Kind: LWWMapSet, Key: "m", Field: []byte("b"), Value: []byte("2")},
		{Origin: nodeA, Seq: 5, HLC: 3, Kind: LWWMapSet, Key: "m", Field: []byte("a"), Value: []byte("1")},
		{Origin: nodeA, Seq: 6, Kind: ORSetAdd, Key: "s", Field: []byte("b")},
		{Origin: nodeA, Seq: 7, Kind: ORSetAdd, Key: "s", Field: []byte("a")},
		{Origin: nodeA, Seq: 8, HLC: 4, Kind: RGAInsert, Key: "l", Value: []byte("y")},
		{Origin: nodeA, Seq: 9, HLC: 5, Kind: RGAInsert, Key: "l", Value: []byte("x")},
	}
	for _, o := range ops {
		s.Deliver(o)
	}
	tests := []struct {
		t    Type
		key  string
		want string
	}{
		{TypeGCounter, "g", "g = 3"},
		{TypeGCounter, "none", "none = 0"},
		{TypePNCounter, "p", "p = -2"},
		{TypeLWWRegister, "r", "r = text"},
		{TypeLWWRegister, "none", "none = <unset>"},
		{TypeLWWMap, "m", "m = {a=1, b=2}"},
		{TypeLWWMap, "none", "none = {}"},
		{TypeORSet, "s", "s = [a, b]"},
		{TypeRGA, "l", "l = [x, y]"},
		{TypeRGA, "none", "none = []"},
	}
	for _, tt := range tests {
		if got := Format(tt.t, tt.key, s.Get(ObjKey{tt.t, tt.key})); got != tt.want {
			t.Errorf("Format(%s, %s) = %q, want %q", tt.t, tt.key, got, tt.want)
		}
	}
}
