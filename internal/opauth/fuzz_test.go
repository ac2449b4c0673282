package opauth

import (
	"bytes"
	"testing"
)

// FuzzDecodeHead: a stored head decodes to one that encodes to the same
// bytes, or is refused; nothing panics.
func FuzzDecodeHead(f *testing.F) {
	f.Add(AppendHead(nil, &Head{Seq: 7, Chain: Hash{9}, Sig: []byte("sig")}))
	f.Add(AppendHead(nil, &Head{Seq: 1 << 60, Chain: Hash{}}))
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHead(testOrigin, b)
		if err != nil {
			return
		}
		if again := AppendHead(nil, h); !bytes.Equal(again, b) && len(b) > 0 && b[len(b)-1] != 0 {
			// Only a non-minimal uvarint may re-encode differently.
			if h2, err := DecodeHead(testOrigin, again); err != nil || h2.Seq != h.Seq || h2.Chain != h.Chain || !bytes.Equal(h2.Sig, h.Sig) {
				t.Fatalf("round trip changed the head: %v", err)
			}
		}
	})
}
