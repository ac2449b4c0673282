package wire

import (
	"bytes"
	"testing"

	"github.com/numax/numax/internal/wire/wirepb"
)

func FuzzReadFrame(f *testing.F) {
	for _, m := range sampleMessages() {
		for _, tag := range []byte{TagBinary, TagJSON} {
			b, _ := EncodeFrame(FromMessage(m), tag)
			f.Add(b)
		}
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 1, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		for {
			tag, payload, err := ReadFrame(r, 1<<16)
			if err != nil {
				return
			}
			if fr, err := Unmarshal(tag, payload); err == nil {
				_, _, _ = ToMessage(fr)
			}
		}
	})
}

func FuzzUnmarshal(f *testing.F) {
	for _, m := range sampleMessages() {
		for _, tag := range []byte{TagBinary, TagJSON} {
			p, _ := Marshal(FromMessage(m), tag)
			f.Add(tag, p)
		}
	}
	f.Fuzz(func(t *testing.T, tag byte, payload []byte) {
		fr, err := Unmarshal(tag, payload)
		if err != nil {
			return
		}
		m, ok, err := ToMessage(fr)
		if err != nil || !ok {
			return
		}
		// What was accepted encodes and decodes again to the same message.
		again, err := Unmarshal(TagBinary, mustMarshal(t, FromMessage(m)))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if m2, _, err := ToMessage(again); err != nil || m2.Kind != m.Kind || len(m2.Ops) != len(m.Ops) {
			t.Fatalf("round trip changed the message: %v", err)
		}
	})
}

func mustMarshal(t *testing.T, f *wirepb.Frame) []byte {
	b, err := Marshal(f, TagBinary)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
