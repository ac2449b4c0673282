package replica

import (
	"testing"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/opauth"
)

// FuzzDecodeLogValue: an op-log entry decodes to an op (and a head at the
// op's seq) that encodes back to a decodable entry, or is refused.
func FuzzDecodeLogValue(f *testing.F) {
	op := &crdt.Op{Kind: crdt.GCounterInc, Origin: victim, Seq: 3, HLC: 1 << 20, Key: "c", Delta: 1}
	f.Add(LogValue(op, nil))
	f.Add(LogValue(op, &opauth.Head{Origin: victim, Seq: 3, Chain: opauth.Hash{4}, Sig: []byte("sig")}))
	f.Add([]byte{logWithHead, 0x05, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		op, h, err := DecodeLogValue(b)
		if err != nil {
			return
		}
		op2, h2, err := DecodeLogValue(LogValue(op, h))
		if err != nil || op2.ID() != op.ID() || (h == nil) != (h2 == nil) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
