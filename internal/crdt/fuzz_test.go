package crdt

import (
	"bytes"
	"testing"
)

// Decoders never panic, and whatever they accept re-encodes canonically:
// decode(encode(decode(b))) is stable.
func FuzzDecode(f *testing.F) {
	s := NewState()
	for i, o := range []*Op{
		{Origin: nodeA, Seq: 1, Kind: GCounterInc, Key: "c", Delta: 3},
		{Origin: nodeA, Seq: 2, Kind: PNCounterDec, Key: "p", Delta: 2},
		{Origin: nodeA, Seq: 3, HLC: 9, Kind: LWWSet, Key: "r", Value: []byte("v")},
		{Origin: nodeA, Seq: 4, HLC: 10, Kind: LWWMapSet, Key: "m", Field: []byte("f"), Value: []byte("1")},
		{Origin: nodeA, Seq: 5, Kind: ORSetAdd, Key: "s", Field: []byte("e")},
		{Origin: nodeA, Seq: 6, HLC: 11, Kind: RGAInsert, Key: "l", Value: []byte("x")},
		{Origin: nodeB, Seq: 1, Kind: RGADelete, Key: "l", Ref: OpID{Seq: 9, Origin: nodeA}},
		{Origin: nodeA, Seq: 7, HLC: 12, Kind: TextInsert, Key: "t", Value: []byte("héllo")},
		{Origin: nodeB, Seq: 2, HLC: 13, Kind: TextInsert, Key: "t", Ref: OpID{Seq: 7, Origin: nodeA}, Delta: 2, Value: []byte("XY")},
		{Origin: nodeB, Seq: 3, HLC: 14, Kind: TextDelete, Key: "t",
			Value: AppendTextRanges(nil, []TextRange{{Run: OpID{Seq: 7, Origin: nodeA}, Off: 1, N: 3}})},
		{Origin: nodeB, Seq: 4, HLC: 15, Kind: TextInsert, Key: "t", Ref: OpID{Seq: 99, Origin: nodeA}, Value: []byte("waits")},
	} {
		s.Deliver(o)
		f.Add(uint8(o.Kind.Type()), AppendOp(nil, o))
		_ = i
	}
	for k, obj := range s.Objects {
		f.Add(uint8(k.Type), obj.AppendBinary(nil))
	}
	f.Fuzz(func(t *testing.T, typ uint8, b []byte) {
		if _, err := DecodeOp(b); err == nil {
			op, _ := DecodeOp(b)
			if !bytes.Equal(AppendOp(nil, op), b) {
				t.Fatalf("op encoding not canonical")
			}
		}
		obj, err := Decode(Type(typ), b)
		if err != nil {
			return
		}
		enc := obj.AppendBinary(nil)
		obj2, err := Decode(Type(typ), enc)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !bytes.Equal(obj2.AppendBinary(nil), enc) {
			t.Fatal("encoding not stable")
		}
	})
}

// FromRecords never panics on stored records it did not write, and what it
// accepts gives records it reads back the same.
func FuzzFromRecords(f *testing.F) {
	s := NewState()
	for _, o := range []*Op{
		{Origin: nodeA, Seq: 1, HLC: 10, Kind: LWWMapSet, Key: "m", Field: []byte("f"), Value: []byte("1")},
		{Origin: nodeA, Seq: 2, Kind: ORSetAdd, Key: "s", Field: []byte("e")},
		{Origin: nodeA, Seq: 3, HLC: 11, Kind: RGAInsert, Key: "l", Value: []byte("x")},
		{Origin: nodeA, Seq: 4, HLC: 12, Kind: TextInsert, Key: "t", Value: []byte("héllo")},
		{Origin: nodeA, Seq: 5, HLC: 13, Kind: TextDelete, Key: "t",
			Value: AppendTextRanges(nil, []TextRange{{Run: OpID{Seq: 4, Origin: nodeA}, Off: 1, N: 2}})},
		{Origin: nodeA, Seq: 6, Kind: GCounterInc, Key: "c", Delta: 3},
	} {
		s.Deliver(o)
	}
	for k, obj := range s.Objects {
		for _, rec := range Records(obj) {
			f.Add(uint8(k.Type), rec.Sub, rec.Value, []byte{}, []byte{})
		}
	}
	f.Fuzz(func(t *testing.T, typ uint8, sub1, v1, sub2, v2 []byte) {
		recs := []Record{{Sub: sub1, Value: v1}}
		if len(sub2) > 0 {
			recs = append(recs, Record{Sub: sub2, Value: v2})
		}
		obj, err := FromRecords(Type(typ), recs)
		if err != nil {
			return
		}
		again, err := FromRecords(Type(typ), Records(obj))
		if err != nil {
			t.Fatalf("records of an accepted object refused: %v", err)
		}
		if !bytes.Equal(again.AppendBinary(nil), obj.AppendBinary(nil)) {
			t.Fatal("records do not read back the same object")
		}
	})
}
