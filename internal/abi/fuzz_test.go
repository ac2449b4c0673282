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

func servingSeeds(f *testing.F) {
	seeds(f)
	f.Add(AppendRequest(nil, &Request{Method: "POST", Target: "/a?b=c", Headers: []Row{{Key: []byte("host"), Value: []byte("x")}}, Body: []byte("hi")}))
	f.Add(AppendResponse(nil, &Response{Status: 200, Headers: []Row{{Key: []byte("content-type"), Value: []byte("text/plain")}}, Body: []byte("ok")}))
	f.Add(AppendChanges(nil, []Change{{Type: 1, Key: []byte("hits")}, {Type: 5, Key: []byte("")}}))
	f.Add(AppendPeerEvent(nil, PeerEvent{Up: true, NodeID: "0123456789abcdef0123456789abcdef", Addr: "127.0.0.1:7001"}))
}

func FuzzDecodeRequest(f *testing.F) {
	servingSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRequest(b)
		if err == nil && !bytes.Equal(AppendRequest(nil, r), b) {
			t.Fatalf("DecodeRequest not exact for %x", b)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	servingSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeResponse(b)
		if err == nil && !bytes.Equal(AppendResponse(nil, r), b) {
			t.Fatalf("DecodeResponse not exact for %x", b)
		}
	})
}

func FuzzDecodeChanges(f *testing.F) {
	servingSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, err := DecodeChanges(b)
		if err == nil && !bytes.Equal(AppendChanges(nil, cs), b) {
			t.Fatalf("DecodeChanges not exact for %x", b)
		}
	})
}

func FuzzDecodePeerEvent(f *testing.F) {
	servingSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodePeerEvent(b)
		if err == nil && !bytes.Equal(AppendPeerEvent(nil, e), b) {
			t.Fatalf("DecodePeerEvent not exact for %x", b)
		}
	})
}
