package abi

import (
	"errors"
	"reflect"
	"testing"
)

func TestServingEncodingsRoundTrip(t *testing.T) {
	req := &Request{Method: "GET", Target: "/x?y=1", Headers: []Row{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("a"), Value: []byte("2")}}, Body: []byte{}}
	got, err := DecodeRequest(AppendRequest(nil, req))
	if err != nil || got.Method != "GET" || got.Target != "/x?y=1" || len(got.Headers) != 2 || string(got.Headers[1].Value) != "2" {
		t.Fatalf("request: %+v %v", got, err)
	}
	resp := &Response{Status: 404, Headers: []Row{}, Body: []byte("nope")}
	if r, err := DecodeResponse(AppendResponse(nil, resp)); err != nil || r.Status != 404 || string(r.Body) != "nope" {
		t.Fatalf("response: %+v %v", r, err)
	}
	cs := []Change{{Type: 1, Key: []byte("a")}, {Type: 7, Key: []byte("doc")}}
	if got, err := DecodeChanges(AppendChanges(nil, cs)); err != nil || !reflect.DeepEqual(got, cs) {
		t.Fatalf("changes: %+v %v", got, err)
	}
	ev := PeerEvent{Up: false, NodeID: "n", Addr: ""}
	if got, err := DecodePeerEvent(AppendPeerEvent(nil, ev)); err != nil || got != ev {
		t.Fatalf("peer event: %+v %v", got, err)
	}
}

func TestServingDecodersRefuseMalformed(t *testing.T) {
	for _, tt := range []struct {
		name string
		f    func([]byte) error
		in   []byte
	}{
		{"request_truncated", func(b []byte) error { _, err := DecodeRequest(b); return err }, AppendRequest(nil, &Request{Method: "GET"})[:6]},
		{"request_trailing", func(b []byte) error { _, err := DecodeRequest(b); return err }, append(AppendRequest(nil, &Request{Method: "GET"}), 0)},
		{"request_huge_header_count", func(b []byte) error { _, err := DecodeRequest(b); return err }, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}},
		{"response_empty", func(b []byte) error { _, err := DecodeResponse(b); return err }, nil},
		{"changes_count_overruns", func(b []byte) error { _, err := DecodeChanges(b); return err }, []byte{9, 0, 0, 0, 1}},
		{"peer_event_bad_flag", func(b []byte) error { _, err := DecodePeerEvent(b); return err }, AppendPeerEvent(nil, PeerEvent{})[:0:0]},
		{"peer_event_up_2", func(b []byte) error { _, err := DecodePeerEvent(b); return err }, append([]byte{2}, make([]byte, 8)...)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.f(tt.in); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}
