package crdt

import (
	"bytes"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// memBacking is a store of one object's records, as the replica keeps them.
type memBacking map[string][]byte

func (m memBacking) Get(sub []byte) ([]byte, bool) { v, ok := m[string(sub)]; return v, ok }

func (m memBacking) Each(after []byte, f func(sub, v []byte) bool) {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k > string(after) || after == nil {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !f([]byte(k), m[k]) {
			return
		}
	}
}

func (m memBacking) put(recs []Record) {
	for _, r := range recs {
		if r.Value == nil {
			delete(m, string(r.Sub))
		} else {
			m[string(r.Sub)] = bytes.Clone(r.Value)
		}
	}
}

// A backed map or set, its records stored after every op and its resident
// elements evicted at random, is the same object as one held whole: same
// encoding, same reads, every step; merges, collection and snapshots'
// dropping of collected tags included.
func TestProperty_BackedObjectsMatchWholeOnes(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ops := genHistory(rt, []Kind{LWWMapSet, LWWMapRemove, ORSetAdd, ORSetAdd, ORSetRemove})
		cache := &Cache{}
		whole := map[ObjKey]Object{}
		backed := map[ObjKey]Object{}
		stores := map[ObjKey]memBacking{}
		for _, op := range ops {
			k := op.Obj()
			if whole[k] == nil {
				whole[k] = New(k.Type)
				stores[k] = memBacking{}
				if k.Type == TypeLWWMap {
					backed[k] = NewBackedLWWMap(stores[k], cache)
				} else {
					backed[k] = NewBackedORSet(stores[k], cache)
				}
			}
			whole[k].Apply(op)
			b := backed[k]
			b.Apply(op)
			stores[k].put(OpRecords(b, op))
			b.(Resident).Clean()
			if rapid.IntRange(0, 3).Draw(rt, "evict") == 0 {
				b.(Resident).Evict()
			}
			if rapid.IntRange(0, 9).Draw(rt, "merge") == 0 {
				// A snapshot of the whole object merges in (a no-op in
				// content), its changes stored from Dirty.
				b.Merge(whole[k].Clone())
				stores[k].put(b.(Resident).Dirty())
				b.(Resident).Clean()
			}
			if s, ok := b.(*ORSet); ok && rapid.IntRange(0, 5).Draw(rt, "collect") == 0 && len(op.Tags) > 0 {
				s.Collect(string(op.Field), op.Tags)
				whole[k].(*ORSet).Collect(string(op.Field), op.Tags)
				if rapid.Bool().Draw(rt, "again") {
					// Once more before the store has the first: a no-op
					// (the store's record is stale until written).
					if freed := s.Collect(string(op.Field), op.Tags); freed != 0 {
						rt.Fatalf("collecting the same tags twice freed %d bytes", freed)
					}
				}
				stores[k].put(s.Dirty())
				s.Clean()
			}
			for k, w := range whole {
				if !bytes.Equal(backed[k].AppendBinary(nil), w.AppendBinary(nil)) {
					rt.Fatalf("%s %s: the backed object differs from the whole one", k.Type, k.Key)
				}
				again, err := FromRecords(k.Type, recordsOf(stores[k]))
				if err != nil {
					rt.Fatal(err)
				}
				if !bytes.Equal(again.AppendBinary(nil), w.AppendBinary(nil)) {
					rt.Fatalf("%s %s: its stored records give another object", k.Type, k.Key)
				}
			}
		}
		for _, b := range backed {
			b.(Resident).Evict()
		}
		if cache.Used != 0 {
			rt.Fatalf("%d bytes counted with nothing resident", cache.Used)
		}
		// Reads through the backing.
		for k, w := range whole {
			switch wo := w.(type) {
			case *LWWMap:
				bf, bv := backed[k].(*LWWMap).Entries()
				wf, wv := wo.Entries()
				if !slices.EqualFunc(bf, wf, bytes.Equal) || !slices.EqualFunc(bv, wv, bytes.Equal) {
					rt.Fatal("entries differ")
				}
			case *ORSet:
				if !slices.EqualFunc(backed[k].(*ORSet).Elements(), wo.Elements(), bytes.Equal) {
					rt.Fatal("elements differ")
				}
			}
		}
	})
}

func recordsOf(m memBacking) []Record {
	var out []Record
	m.Each(nil, func(sub, v []byte) bool {
		out = append(out, Record{Sub: bytes.Clone(sub), Value: v})
		return true
	})
	return out
}

// TestLWWMap_CollectRemoved drops a field only while it is the tombstone
// named: a later write keeps it, and a backed map deletes its record.
func TestLWWMap_CollectRemoved(t *testing.T) {
	set := func(hlc uint64) *Op {
		return &Op{Kind: LWWMapSet, Key: "m", Field: []byte("f"), Value: []byte("v"), HLC: hlc, Origin: nodeA}
	}
	remove := &Op{Kind: LWWMapRemove, Key: "m", Field: []byte("f"), HLC: 2, Origin: nodeA}
	removed := Stamp{HLC: 2, Writer: nodeA}
	for _, tc := range []struct {
		name  string
		ops   []*Op
		stamp Stamp
		gone  bool
	}{
		{"the tombstone", []*Op{set(1), remove}, removed, true},
		{"another stamp", []*Op{set(1), remove}, Stamp{HLC: 1, Writer: nodeA}, false},
		{"written again after", []*Op{set(1), remove, set(3)}, removed, false},
		{"never removed", []*Op{set(1)}, Stamp{HLC: 1, Writer: nodeA}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			back := memBacking{}
			m := NewBackedLWWMap(back, &Cache{})
			for _, op := range tc.ops {
				m.Apply(op)
			}
			for _, rec := range m.Dirty() {
				back[string(rec.Sub)] = rec.Value
			}
			m.Clean()
			m.Evict()
			before, _ := m.lookup("f")
			freed := m.CollectRemoved("f", tc.stamp)
			recs := m.Dirty()
			m.Clean()
			if tc.gone {
				if freed == 0 || len(recs) != 1 || recs[0].Value != nil || len(m.Fields) != 0 {
					t.Fatalf("freed %d, records %q, fields %v: want the field and its record gone", freed, recs, m.Fields)
				}
				fields, _ := m.Entries()
				if len(fields) != 0 {
					t.Fatalf("entries %q after collecting", fields)
				}
				return
			}
			if after, _ := m.lookup("f"); freed != 0 || len(recs) != 0 || after.Stamp != before.Stamp || after.Removed != before.Removed || !bytes.Equal(after.Value, before.Value) {
				t.Fatalf("freed %d, records %q, entry %+v (was %+v): want nothing changed", freed, recs, after, before)
			}
		})
	}
}
