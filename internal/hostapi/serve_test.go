package hostapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/tetratelabs/wazero/api"

	"github.com/numax/numax/internal/abi"
)

// callIn runs a host function with call c in its context (nil: outside any
// handler) and returns the result.
func (hs *harness) callIn(c *Call, name string, args ...uint64) int32 {
	hs.t.Helper()
	f, _ := abi.Lookup(name)
	stack := make([]uint64, max(len(f.Params), len(f.Results), 1))
	copy(stack, args)
	ctx := context.Background()
	if c != nil {
		ctx = WithCall(ctx, c)
	}
	hs.fns[name](ctx, hs.mod, stack)
	return api.DecodeI32(stack[0])
}

func TestServingFunctions(t *testing.T) {
	hs := newHarness(t)
	req := abi.AppendRequest(nil, &abi.Request{Method: "GET", Target: "/x"})
	var got struct {
		status  int
		headers []abi.Row
		body    string
	}
	onRequest := &Call{Handler: "on_request", Request: req, Respond: func(st int, h []abi.Row, b []byte) {
		got.status, got.headers, got.body = st, h, string(b)
	}}
	onChange := &Call{Handler: "on_change", Changes: abi.AppendChanges(nil, []abi.Change{{Type: 1, Key: []byte("k")}})}
	onPeer := &Call{Handler: "on_peer", Peer: abi.AppendPeerEvent(nil, abi.PeerEvent{Up: true, NodeID: "n", Addr: "a"})}
	out := hs.buf(256)
	okHeaders, okHN := hs.put(abi.AppendPairs(nil, []abi.Row{{Key: []byte("x-a"), Value: []byte("1")}}))
	badName, badNN := hs.put(abi.AppendPairs(nil, []abi.Row{{Key: []byte("x a"), Value: []byte("1")}}))
	injected, injN := hs.put(abi.AppendPairs(nil, []abi.Row{{Key: []byte("x-a"), Value: []byte("1\r\nset-cookie: x")}}))
	notPairs, notPN := hs.str("nope")
	body, bodyN := hs.str("hello")

	for _, tt := range []struct {
		name string
		c    *Call
		fn   string
		args []uint64
		want int32
	}{
		{"request_in_on_request", onRequest, "http_request", []uint64{out, 256}, int32(len(req))},
		{"request_small_buffer", onRequest, "http_request", []uint64{out, 3}, abi.ErrBufferTooSmall},
		{"request_oob_buffer", onRequest, "http_request", []uint64{memSize - 8, 256}, abi.ErrInternal},
		{"request_outside", nil, "http_request", []uint64{out, 256}, abi.ErrInternal},
		{"request_in_on_change", onChange, "http_request", []uint64{out, 256}, abi.ErrInternal},
		{"changes_in_on_change", onChange, "changes", []uint64{out, 256}, int32(len(onChange.Changes))},
		{"changes_outside", onRequest, "changes", []uint64{out, 256}, abi.ErrInternal},
		{"peer_in_on_peer", onPeer, "peer_event", []uint64{out, 256}, int32(len(onPeer.Peer))},
		{"peer_outside", nil, "peer_event", []uint64{out, 256}, abi.ErrInternal},
		{"respond_status_99", onRequest, "http_respond", []uint64{99, okHeaders, okHN, body, bodyN}, abi.ErrInternal},
		{"respond_status_600", onRequest, "http_respond", []uint64{600, okHeaders, okHN, body, bodyN}, abi.ErrInternal},
		{"respond_bad_header_name", onRequest, "http_respond", []uint64{200, badName, badNN, body, bodyN}, abi.ErrInternal},
		{"respond_header_injection", onRequest, "http_respond", []uint64{200, injected, injN, body, bodyN}, abi.ErrInternal},
		{"respond_not_a_pair_list", onRequest, "http_respond", []uint64{200, notPairs, notPN, body, bodyN}, abi.ErrInternal},
		{"respond_body_oob", onRequest, "http_respond", []uint64{200, okHeaders, okHN, memSize - 2, 10}, abi.ErrInternal},
		{"respond_outside", nil, "http_respond", []uint64{200, okHeaders, okHN, body, bodyN}, abi.ErrInternal},
		{"respond_ok", onRequest, "http_respond", []uint64{201, okHeaders, okHN, body, bodyN}, abi.OK},
		{"respond_twice", onRequest, "http_respond", []uint64{200, okHeaders, okHN, body, bodyN}, abi.ErrInternal},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if r := hs.callIn(tt.c, tt.fn, tt.args...); r != tt.want {
				t.Fatalf("%s = %d, want %d", tt.fn, r, tt.want)
			}
		})
	}
	if got.status != 201 || got.body != "hello" || len(got.headers) != 1 || string(got.headers[0].Key) != "x-a" {
		t.Fatalf("response %+v", got)
	}
	if !onRequest.Responded() {
		t.Fatal("Responded() = false after http_respond")
	}
}

func TestHTTPFetch(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Up", r.Header.Get("X-Down"))
		w.Write([]byte("body:" + r.Method))
	}))
	defer up.Close()
	hs := newHarness(t)
	u, _ := url.Parse(up.URL)
	hs.h.FetchAllow = []string{u.Host}
	reqB := abi.AppendRequest(nil, &abi.Request{Method: "POST", Target: up.URL + "/p", Headers: []abi.Row{{Key: []byte("x-down"), Value: []byte("v")}}})
	rp, rn := hs.put(reqB)
	out := hs.buf(4096)
	c := &Call{Handler: "on_request"}
	n := hs.callIn(c, "http_fetch", rp, rn, out, 4096)
	if n <= 0 {
		t.Fatalf("http_fetch = %d", n)
	}
	resp, err := abi.DecodeResponse(hs.read(out, int(n)))
	if err != nil || resp.Status != 200 || string(resp.Body) != "body:POST" {
		t.Fatalf("response %+v %v", resp, err)
	}
	hasUp := false
	for _, h := range resp.Headers {
		hasUp = hasUp || (string(h.Key) == "x-up" && string(h.Value) == "v")
	}
	if !hasUp {
		t.Fatalf("headers %v", resp.Headers)
	}
	// -2 then a retry with room: answered from the first fetch.
	if r := hs.callIn(c, "http_fetch", rp, rn, out, 8); r != abi.ErrBufferTooSmall {
		t.Fatalf("small buffer = %d", r)
	}
	// A host not allowed, a relative target, a non-http scheme: -3.
	for _, target := range []string{"http://127.0.0.2:1/x", "/relative", "file:///etc/passwd"} {
		b := abi.AppendRequest(nil, &abi.Request{Method: "GET", Target: target})
		p, pn := hs.put(b)
		before := hs.logs.count()
		if r := hs.callIn(nil, "http_fetch", p, pn, out, 4096); r != abi.ErrInternal {
			t.Fatalf("%s: %d", target, r)
		}
		if hs.logs.count() == before || hs.logs.last(t).Message != "http_fetch refused or failed" {
			t.Fatalf("%s: refusal not logged", target)
		}
	}
}

func TestFetchAllowed(t *testing.T) {
	for _, tt := range []struct {
		allow []string
		url   string
		want  bool
	}{
		{[]string{"example.com"}, "https://example.com/x", true},
		{[]string{"example.com"}, "http://example.com:8080/x", true},
		{[]string{"example.com:443"}, "https://example.com/x", true},
		{[]string{"example.com:443"}, "http://example.com/x", false},
		{[]string{"127.0.0.1:9"}, "http://127.0.0.1:9/", true},
		{[]string{"127.0.0.1:9"}, "http://127.0.0.1:10/", false},
		{[]string{"EXAMPLE.com"}, "http://example.COM/", true},
		{nil, "http://example.com/", false},
		{[]string{"example.com"}, "http://example.com.evil.org/", false},
	} {
		u, _ := url.Parse(tt.url)
		if got := FetchAllowed(tt.allow, u); got != tt.want {
			t.Errorf("FetchAllowed(%v, %s) = %v", tt.allow, tt.url, got)
		}
	}
}
