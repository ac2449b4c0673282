package abi

import (
	"bytes"
	"testing"
)

// Every decoder is exact: whatever it accepts re-encodes to the same bytes,
// and it never panics or allocates by an unchecked length.

func seeds(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0})
	f.Add(AppendRows(nil, []Row{{Key: []byte("k"), Value: []byte("v")}, {Key: []byte{}, Value: []byte("x")}}))
	f.Add(AppendList(nil, [][]byte{[]byte("a"), []byte("bc")}))
	f.Add(AppendPairs(nil, []Row{{Key: []byte("f"), Value: []byte("1")}}))
	f.Add(AppendPeers(nil, []Peer{{Addr: "127.0.0.1:1", NodeID: "ab"}}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0})
}

func FuzzDecodeRows(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		rows, err := DecodeRows(b)
		if err == nil && !bytes.Equal(AppendRows(nil, rows), b) {
			t.Fatalf("DecodeRows not exact for %x", b)
		}
	})
}

func FuzzDecodeList(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		items, err := DecodeList(b)
		if err == nil && !bytes.Equal(AppendList(nil, items), b) {
			t.Fatalf("DecodeList not exact for %x", b)
		}
	})
}

func FuzzDecodePairs(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		pairs, err := DecodePairs(b)
		if err == nil && !bytes.Equal(AppendPairs(nil, pairs), b) {
			t.Fatalf("DecodePairs not exact for %x", b)
		}
	})
}

func FuzzDecodePeers(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		peers, err := DecodePeers(b)
		if err == nil && !bytes.Equal(AppendPeers(nil, peers), b) {
			t.Fatalf("DecodePeers not exact for %x", b)
		}
	})
}

func FuzzParseOpID(f *testing.F) {
	f.Add([]byte("1@0123456789abcdef0123456789abcdef"))
	f.Add([]byte("0@x"))
	f.Add([]byte("99999999999999999999@0123456789abcdef0123456789abcdef"))
	f.Fuzz(func(t *testing.T, b []byte) {
		seq, origin, err := ParseOpID(b)
		if err == nil && FormatOpID(seq, origin) != string(b) {
			t.Fatalf("ParseOpID not exact for %q", b)
		}
	})
}
