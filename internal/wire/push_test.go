package wire

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"pgregory.net/rapid"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/opauth"
)

// genPush draws PushOps messages, valid or not: ops of every kind with any
// fields, heads, certificates.
func genPush() *rapid.Generator[*Message] {
	ids := []string{origin, "cd" + origin[2:], "not a node id", ""}
	genID := rapid.Custom(func(t *rapid.T) crdt.OpID {
		return crdt.OpID{Seq: rapid.Uint64Range(0, 1<<40).Draw(t, "seq"), Origin: rapid.SampledFrom(ids).Draw(t, "origin")}
	})
	genBytes := rapid.OneOf(rapid.Just([]byte(nil)), rapid.SliceOfN(rapid.Byte(), 0, 20))
	genOp := rapid.Custom(func(t *rapid.T) *crdt.Op {
		op := &crdt.Op{
			Origin: rapid.SampledFrom(ids).Draw(t, "origin"),
			Seq:    rapid.Uint64().Draw(t, "seq"),
			HLC:    rapid.Uint64().Draw(t, "hlc"),
			Kind:   crdt.Kind(rapid.IntRange(0, 14).Draw(t, "kind")),
			Key:    rapid.SampledFrom([]string{"", "c", "visits", "a longer key \u00e9", "\xff"}).Draw(t, "key"),
			Delta:  rapid.Uint64().Draw(t, "delta"),
			Field:  genBytes.Draw(t, "field"),
			Value:  genBytes.Draw(t, "value"),
		}
		if rapid.Bool().Draw(t, "tagged") {
			op.Tags = rapid.SliceOfN(genID, 1, 3).Draw(t, "tags")
		}
		if rapid.Bool().Draw(t, "ref") {
			op.Ref = genID.Draw(t, "ref")
		}
		return op
	})
	genHead := rapid.Custom(func(t *rapid.T) *opauth.Head {
		h := &opauth.Head{Origin: rapid.SampledFrom(ids).Draw(t, "origin"), Seq: rapid.Uint64Range(0, 9).Draw(t, "seq"),
			Sig: genBytes.Draw(t, "sig")}
		copy(h.Chain[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "chain"))
		return h
	})
	return rapid.Custom(func(t *rapid.T) *Message {
		return &Message{Kind: PushOps,
			Ops:    rapid.SliceOfN(genOp, 0, 6).Draw(t, "ops"),
			Heads:  rapid.SliceOfN(genHead, 0, 2).Draw(t, "heads"),
			Certs:  rapid.SliceOfN(genBytes, 0, 2).Draw(t, "certs"),
			Answer: rapid.Bool().Draw(t, "answer"),
		}
	})
}

// samePush compares two decoded PushOps messages field by field (a nil
// and an empty byte slice are the same value on the wire).
func samePush(t interface{ Fatalf(string, ...any) }, got, want *Message) {
	if got.Kind != want.Kind || got.Answer != want.Answer || len(got.Ops) != len(want.Ops) ||
		len(got.Heads) != len(want.Heads) || len(got.Certs) != len(want.Certs) || got.VV == nil || len(got.VV) != len(want.VV) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i, a := range got.Ops {
		b := want.Ops[i]
		if a.Origin != b.Origin || a.Seq != b.Seq || a.HLC != b.HLC || a.Kind != b.Kind || a.Key != b.Key || a.Delta != b.Delta ||
			!bytes.Equal(a.Field, b.Field) || !bytes.Equal(a.Value, b.Value) || !slices.Equal(a.Tags, b.Tags) || a.Ref != b.Ref {
			t.Fatalf("op %d: got %+v, want %+v", i, a, b)
		}
	}
	for i, a := range got.Heads {
		b := want.Heads[i]
		if a.Origin != b.Origin || a.Seq != b.Seq || a.Chain != b.Chain || !bytes.Equal(a.Sig, b.Sig) {
			t.Fatalf("head %d: got %+v, want %+v", i, a, b)
		}
	}
	for i := range got.Certs {
		if !bytes.Equal(got.Certs[i], want.Certs[i]) {
			t.Fatalf("cert %d differs", i)
		}
	}
}

// decodeGeneric is the reference: the generated codec and ToMessage.
func decodeGeneric(payload []byte) (*Message, error) {
	f, err := Unmarshal(TagBinary, payload)
	if err != nil {
		return nil, err
	}
	m, _, err := ToMessage(f)
	return m, err
}

func TestPushCodec_MatchesTheGeneratedCodec(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := genPush().Draw(t, "msg")
		want, wantErr := EncodeFrame(FromMessage(m), TagBinary)
		got, err := AppendPushFrame(nil, m)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("AppendPushFrame: %v; the generated codec: %v", err, wantErr)
		}
		if err != nil {
			return
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("AppendPushFrame:\n got %x\nwant %x", got, want)
		}
		ref, refErr := decodeGeneric(want[5:])
		fast, ok := DecodePush(want[5:])
		switch {
		case refErr != nil && ok:
			t.Fatalf("DecodePush took what the generated codec refuses (%v)", refErr)
		case refErr == nil && !ok:
			t.Fatalf("DecodePush left a plain PushOps to the generated codec")
		case ok:
			samePush(t, fast, ref)
		}
	})
}

func TestDecodePush_LeavesOtherFormsToTheGeneratedCodec(t *testing.T) {
	op := &crdt.Op{Origin: origin, Seq: 1, HLC: 9, Kind: crdt.GCounterInc, Key: "c", Delta: 3}
	plain := mustPush(t, &Message{Kind: PushOps, Ops: []*crdt.Op{op}})
	// Tags are the one repeated field of an op: a plain form too.
	tagged := mustPush(t, &Message{Kind: PushOps, Ops: []*crdt.Op{{Origin: origin, Seq: 2, HLC: 10, Kind: crdt.ORSetRemove, Key: "s",
		Field: []byte("e"), Tags: []crdt.OpID{{Seq: 1, Origin: origin}, {Seq: 3, Origin: "cd" + origin[2:]}}}}})
	opBody := appendOp(nil, op)
	push := func(fields ...[]byte) []byte {
		body := slices.Concat(fields...)
		b := protowire.AppendTag(nil, fieldFramePush, protowire.BytesType)
		return protowire.AppendBytes(b, body)
	}
	opField := func(body []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, fieldPushOps, protowire.BytesType), body)
	}
	tests := []struct {
		name    string
		payload []byte
		valid   bool // the generated codec takes it
	}{
		{"plain", plain, true},
		{"plain_two_tags", tagged, true},
		{"seq_twice", push(opField(slices.Concat(opBody, []byte{0x10, 0x02}))), true},
		{"unknown_op_field", push(opField(slices.Concat(opBody, []byte{0x58, 0x01}))), true},
		{"unknown_push_field", push(opField(opBody), []byte{0x28, 0x01}), true},
		{"answer_twice", push(opField(opBody), []byte{0x20, 0x01, 0x20, 0x00}), true},
		{"two_frames_fields", slices.Concat(plain, plain), true},
		{"key_not_utf8", push(opField(slices.Concat(opBody, []byte{0x2a, 0x01, 0xff}))), false},
		{"kind_past_255", push(opField(slices.Concat(opBody[:len(opBody)-4], []byte{0x20, 0x80, 0x02}, opBody[len(opBody)-4:]))), false},
		{"bad_op", push(opField([]byte{0x10, 0x01})), false},
		{"seq_as_bytes", push(opField([]byte{0x12, 0x00})), false},
		{"truncated", plain[:len(plain)-1], false},
		{"not_a_push", []byte{0x2a, 0x00}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref, err := decodeGeneric(tt.payload)
			if (err == nil) != tt.valid {
				t.Fatalf("generated codec: %v, want valid=%v", err, tt.valid)
			}
			got, ok := DecodePush(tt.payload)
			if ok != strings.HasPrefix(tt.name, "plain") {
				t.Fatalf("DecodePush ok = %v", ok)
			}
			if ok {
				samePush(t, got, ref)
			}
		})
	}
}

func TestDecodePush_AllocatesPerBatch(t *testing.T) {
	m := &Message{Kind: PushOps}
	for i := range 256 {
		m.Ops = append(m.Ops, &crdt.Op{Origin: origin, Seq: uint64(i + 1), HLC: uint64(1000 + i), Kind: crdt.GCounterInc, Key: "visits", Delta: 1})
	}
	payload := mustPush(t, m)
	allocs := testing.AllocsPerRun(20, func() {
		if _, ok := DecodePush(payload); !ok {
			t.Fatal("not decoded")
		}
	})
	// The message, its vector, the ops' array and pointers, one origin
	// and one key: not one per op.
	if allocs > 8 {
		t.Fatalf("%.0f allocations for 256 ops", allocs)
	}
}

func FuzzDecodePush(f *testing.F) {
	for _, m := range sampleMessages() {
		if m.Kind == PushOps {
			f.Add(mustPush(f, m))
		}
	}
	f.Add([]byte{0x22, 0x02, 0x20, 0x01})
	f.Fuzz(func(t *testing.T, payload []byte) {
		got, ok := DecodePush(payload)
		if !ok {
			return
		}
		ref, err := decodeGeneric(payload)
		if err != nil {
			t.Fatalf("DecodePush took what the generated codec refuses: %v", err)
		}
		samePush(t, got, ref)
	})
}

// mustPush returns m's PushOps frame payload.
func mustPush(t testing.TB, m *Message) []byte {
	b, err := AppendPushFrame(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	return b[5:]
}
