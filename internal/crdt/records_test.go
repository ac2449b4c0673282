package crdt

import (
	"bytes"
	"testing"

	"pgregory.net/rapid"
)

// storeOpRecords keeps in stored (object -> sub-key -> value) the records
// each applied op changed, as a replica's write does.
func storeOpRecords(stored map[ObjKey]map[string][]byte, s *State, applied []*Op) {
	for _, op := range applied {
		k := op.Obj()
		if stored[k] == nil {
			stored[k] = map[string][]byte{}
		}
		for _, rec := range OpRecords(s.Get(k), op) {
			if rec.Value == nil {
				delete(stored[k], string(rec.Sub))
			} else {
				stored[k][string(rec.Sub)] = bytes.Clone(rec.Value) // valid until the next OpRecords
			}
		}
	}
}

// Keeping only the records each op changed gives, at every step, the
// records of the whole object: FromRecords of them is the object.
func TestProperty_OpRecordsKeepTheObject(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ops := genHistory(t, allKinds)
		s := NewState()
		stored := map[ObjKey]map[string][]byte{}
		for _, i := range rapid.Permutation(indexes(len(ops))).Draw(t, "order") {
			_, applied := s.Deliver(ops[i])
			storeOpRecords(stored, s, applied)
		}
		for k, obj := range s.Objects {
			var recs []Record
			for sub, v := range stored[k] {
				recs = append(recs, Record{Sub: []byte(sub), Value: v})
			}
			got, err := FromRecords(k.Type, recs)
			if err != nil {
				t.Fatalf("%s/%s: %v", k.Type, k.Key, err)
			}
			if !bytes.Equal(got.AppendBinary(nil), obj.AppendBinary(nil)) {
				t.Fatalf("%s/%s: op records give another object", k.Type, k.Key)
			}
			all, err := FromRecords(k.Type, Records(obj))
			if err != nil || !bytes.Equal(all.AppendBinary(nil), obj.AppendBinary(nil)) {
				t.Fatalf("%s/%s: Records round trip: %v", k.Type, k.Key, err)
			}
			if len(Records(obj)) != len(recs) {
				t.Fatalf("%s/%s: %d records stored op by op, %d in the object", k.Type, k.Key, len(recs), len(Records(obj)))
			}
			if tx, ok := obj.(*Text); ok && got.(*Text).String() != tx.String() {
				t.Fatalf("text %q from records, %q in memory", got.(*Text).String(), tx.String())
			}
		}
	})
}

func TestFromRecords_Refuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    Type
		recs []Record
	}{
		{"counter as two records", TypeGCounter, []Record{{Value: (&GCounter{}).AppendBinary(nil)}, {Sub: []byte("x")}}},
		{"unknown version", TypeLWWMap, []Record{{Sub: []byte("f"), Value: []byte{9}}}},
		{"truncated field", TypeLWWMap, []Record{{Sub: []byte("f"), Value: []byte{FormatVersion, 1}}}},
		{"set element without tags", TypeORSet, []Record{{Sub: []byte("e"), Value: []byte{FormatVersion, 0, 0}}}},
		{"short RGA id", TypeRGA, []Record{{Sub: []byte{1, 2}, Value: []byte{FormatVersion, 0, 1}}}},
		{"text record of no kind", TypeText, []Record{{Sub: appendIDKey([]byte{'x'}, OpID{Seq: 1, Origin: nodeA}), Value: []byte{FormatVersion}}}},
		{"empty text run", TypeText, []Record{{Sub: appendIDKey([]byte{'r'}, OpID{Seq: 1, Origin: nodeA}),
			Value: enc([]byte{FormatVersion}).uv(1).id(OpID{}).uv(0).str("")}}},
		{"trailing bytes", TypeText, []Record{{Sub: appendIDKey([]byte{'d'}, OpID{Seq: 1, Origin: nodeA}),
			Value: append(enc([]byte{FormatVersion}).uv(1).uv(0).uv(2), 7)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := FromRecords(tc.t, tc.recs); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// A state that unloads its sequences (RGA, Text) at any point between
// deliveries and loads them again from the records stored op by op ends
// equal to one that keeps everything in memory, whatever the delivery
// order: what a replica does past its cache (State.Unload).
func TestProperty_UnloadedSequencesLoadTheSame(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ops := genHistory(t, allKinds)
		ref, s := NewState(), NewState()
		stored := map[ObjKey]map[string][]byte{}
		loads := 0
		s.Unloaded = map[ObjKey]bool{}
		s.Load = func(k ObjKey) Object {
			loads++
			var recs []Record
			for sub, v := range stored[k] {
				recs = append(recs, Record{Sub: []byte(sub), Value: v})
			}
			obj, err := FromRecords(k.Type, recs)
			if err != nil {
				t.Fatalf("%s/%s: %v", k.Type, k.Key, err)
			}
			return obj
		}
		for _, i := range rapid.Permutation(indexes(len(ops))).Draw(t, "order") {
			ref.Deliver(ops[i])
			_, applied := s.Deliver(ops[i])
			storeOpRecords(stored, s, applied)
			for _, k := range s.Keys() {
				if (k.Type == TypeRGA || k.Type == TypeText) && rapid.Bool().Draw(t, "unload") {
					s.Unload(k)
				}
			}
		}
		if !bytes.Equal(s.AppendBinary(nil), ref.AppendBinary(nil)) {
			t.Fatalf("a state unloading its sequences differs from one keeping them (%d loads)", loads)
		}
		for k, obj := range ref.Objects {
			if tx, ok := obj.(*Text); ok && s.Get(k).(*Text).String() != tx.String() {
				t.Fatalf("text %q after unloads, %q kept", s.Get(k).(*Text).String(), tx.String())
			}
		}
	})
}
