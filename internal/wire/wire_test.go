package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"maps"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/opauth"
	"github.com/numax/numax/internal/wire/wirepb"
)

var origin = strings.Repeat("ab", 16)

func sampleMessages() []*Message {
	return []*Message{
		{Kind: PushOps, Ops: []*crdt.Op{
			{Origin: origin, Seq: 1, HLC: 9, Kind: crdt.GCounterInc, Key: "c", Delta: 3},
			{Origin: origin, Seq: 2, HLC: 10, Kind: crdt.ORSetRemove, Key: "s", Field: []byte("e"), Tags: []crdt.OpID{{Seq: 1, Origin: origin}}},
			{Origin: origin, Seq: 3, HLC: 11, Kind: crdt.RGAInsert, Key: "l", Ref: crdt.OpID{Seq: 1, Origin: origin}, Value: []byte("x")},
		}},
		{Kind: PushOps, Ops: []*crdt.Op{{Origin: origin, Seq: 4, HLC: 12, Kind: crdt.GCounterInc, Key: "c", Delta: 1}},
			Heads: []*opauth.Head{{Origin: origin, Seq: 4, Chain: opauth.Hash{1, 2, 3}, Sig: []byte("signature")}},
			Certs: [][]byte{[]byte("certificate DER")}},
		{Kind: Ack, VV: map[string]uint64{origin: 3}},
		{Kind: Ack, VV: map[string]uint64{}, Links: []string{origin, strings.Repeat("cd", 16)}},
		{Kind: Ack, VV: map[string]uint64{}, Have: map[string]uint64{origin: 7}, Prune: []string{origin}, Graft: []string{strings.Repeat("cd", 16)}},
		{Kind: PushOps, Answer: true, Ops: []*crdt.Op{{Origin: origin, Seq: 5, HLC: 13, Kind: crdt.GCounterInc, Key: "c", Delta: 1}}},
		{Kind: PullSince, VV: map[string]uint64{}},
		{Kind: Snapshot, VV: map[string]uint64{origin: 3}, Objects: map[crdt.ObjKey][]byte{
			{Type: crdt.TypeGCounter, Key: "c"}: (&crdt.GCounter{Slots: map[string]uint64{origin: 3}}).AppendBinary(nil)}},
	}
}

func TestRoundTrip_BothFormats(t *testing.T) {
	for _, tag := range []byte{TagBinary, TagJSON} {
		for _, m := range sampleMessages() {
			t.Run(m.Kind.String()+"/"+string(rune('0'+tag)), func(t *testing.T) {
				frame, err := EncodeFrame(FromMessage(m), tag)
				if err != nil {
					t.Fatal(err)
				}
				gotTag, payload, err := ReadFrame(bytes.NewReader(frame), DefaultMaxMessageSize)
				if err != nil || gotTag != tag {
					t.Fatalf("ReadFrame: %v tag %d", err, gotTag)
				}
				f, err := Unmarshal(gotTag, payload)
				if err != nil {
					t.Fatal(err)
				}
				got, ok, err := ToMessage(f)
				if err != nil || !ok || got.Kind != m.Kind || len(got.Ops) != len(m.Ops) || len(got.Objects) != len(m.Objects) ||
					!slices.Equal(got.Links, m.Links) || len(got.VV) != len(m.VV) || got.Answer != m.Answer ||
					!maps.Equal(got.Have, m.Have) || !slices.Equal(got.Prune, m.Prune) || !slices.Equal(got.Graft, m.Graft) {
					t.Fatalf("ToMessage = %+v %v %v", got, ok, err)
				}
				for i := range m.Ops {
					if !bytes.Equal(crdt.AppendOp(nil, got.Ops[i]), crdt.AppendOp(nil, m.Ops[i])) {
						t.Fatalf("op %d differs", i)
					}
				}
			})
		}
	}
}

func TestReadFrame_Refusals(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"huge_length", []byte{0xff, 0xff, 0xff, 0xff, 2}, ErrFrameTooLarge},
		{"over_limit", AppendFrame(nil, TagBinary, make([]byte, 100)), ErrFrameTooLarge},
		{"unknown_tag", AppendFrame(nil, 0x07, []byte("x")), ErrUnknownTag},
		{"empty", []byte{0, 0, 0, 0}, ErrMalformed},
		{"truncated", []byte{0, 0, 0, 9, 2, 1}, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := ReadFrame(bytes.NewReader(tt.in), 64); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestUnmarshal_Refusals(t *testing.T) {
	empty, _ := Marshal(&wirepb.Frame{}, TagBinary)
	badOp, _ := Marshal(&wirepb.Frame{Msg: &wirepb.Frame_PushOps{PushOps: &wirepb.PushOps{Ops: []*wirepb.Op{{Origin: "x", Seq: 1, Kind: 1}}}}}, TagBinary)
	for _, tt := range []struct {
		name    string
		tag     byte
		payload []byte
	}{
		{"garbage_binary", TagBinary, []byte{0xff, 0xff, 0xff}},
		{"garbage_json", TagJSON, []byte("{not json")},
		{"no_message", TagBinary, empty},
		{"unknown_json_field", TagJSON, []byte(`{"ping":{},"bogus":1}`)},
	} {
		if _, err := Unmarshal(tt.tag, tt.payload); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v", tt.name, err)
		}
	}
	f, err := Unmarshal(TagBinary, badOp)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ToMessage(f); !errors.Is(err, ErrMalformed) {
		t.Fatalf("op with a bad origin: %v", err)
	}
	for name, ack := range map[string]*wirepb.Ack{
		"links": {Links: []string{origin, "not a node id"}},
		"prune": {Prune: []string{"not a node id"}},
		"graft": {Graft: []string{origin, "not a node id"}},
		"have":  {Have: map[string]uint64{"not a node id": 1}},
	} {
		bad := &wirepb.Frame{Msg: &wirepb.Frame_Ack{Ack: ack}}
		if _, _, err := ToMessage(bad); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "not a node id") {
			t.Errorf("ack %s with a bad NodeId: %v", name, err)
		}
	}
}

// stallReader declares a frame and then sends only part of it.
type stallReader struct {
	data []byte
}

func (s *stallReader) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(p, s.data)
	s.data = s.data[n:]
	return n, nil
}

// A peer that declares a large frame and sends little costs what it sent,
// not what it declared.
func TestReadFrame_AllocatesWithBytesReceived(t *testing.T) {
	hdr := binary.BigEndian.AppendUint32(nil, 16<<20)
	r := &stallReader{data: append(hdr, TagBinary, 1, 2, 3)}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, _, err := ReadFrame(r, 16<<20)
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("a truncated frame was accepted")
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("allocated %d bytes for a 16 MiB declaration with 4 bytes sent", grew)
	}
	// A whole large frame still reads exactly.
	payload := bytes.Repeat([]byte{7}, 3<<20)
	frame := AppendFrame(nil, TagBinary, payload)
	tag, got, err := ReadFrame(bytes.NewReader(frame), 16<<20)
	if err != nil || tag != TagBinary || !bytes.Equal(got, payload) {
		t.Fatalf("large frame: tag %x len %d err %v", tag, len(got), err)
	}
}

func TestReadFrameReuse_ReadsIntoTheBufferItWasGiven(t *testing.T) {
	small := AppendFrame(nil, TagBinary, []byte("first"))
	other := AppendFrame(nil, TagBinary, []byte("2nd"))
	large := AppendFrame(nil, TagBinary, bytes.Repeat([]byte{7}, keepBuffer+1))
	r := bytes.NewReader(slices.Concat(small, other, large, small, []byte{0, 0, 0, 2, 9, 9}))
	var buf []byte
	for i, want := range [][]byte{[]byte("first"), []byte("2nd"), bytes.Repeat([]byte{7}, keepBuffer+1), []byte("first")} {
		before := buf
		tag, payload, next, err := ReadFrameReuse(r, 1<<20, buf)
		if err != nil || tag != TagBinary || !bytes.Equal(payload, want) {
			t.Fatalf("frame %d: tag %d, %d bytes, %v", i, tag, len(payload), err)
		}
		switch {
		case i == 1 && &next[:1][0] != &before[:1][0]:
			t.Fatalf("frame %d: a frame that fits was not read into the buffer", i)
		case i == 2 && cap(next) > keepBuffer:
			t.Fatalf("a %d-byte buffer was kept", cap(next))
		}
		buf = next
	}
	if _, _, next, err := ReadFrameReuse(r, 1<<20, buf); !errors.Is(err, ErrUnknownTag) || &next[:1][0] != &buf[:1][0] {
		t.Fatalf("unknown tag: %v", err)
	}
}
