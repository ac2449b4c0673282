//go:build wasip1

//lint:file-ignore U1000 the handlers are called by the host through //go:wasmexport, which staticcheck cannot see

package serve

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unsafe"

	nx "github.com/numax/numax/sdk/go"

	"github.com/numax/numax/internal/abi"
)

//go:wasmimport nx http_request
func httpRequest(op unsafe.Pointer, on uint32) int32

//go:wasmimport nx http_respond
func httpRespond(status int32, hp unsafe.Pointer, hn uint32, bp unsafe.Pointer, bn uint32) int32

//go:wasmimport nx changes
func changes(op unsafe.Pointer, on uint32) int32

//go:wasmimport nx peer_event
func peerEvent(op unsafe.Pointer, on uint32) int32

//go:wasmimport nx http_fetch
func httpFetch(rp unsafe.Pointer, rn uint32, op unsafe.Pointer, on uint32) int32

var (
	handler  http.Handler
	onChange func([]Change)
	onTick   func()
	onPeer   func(PeerEvent)
)

// Serve makes h answer the node's HTTP requests.
func Serve(h http.Handler) { handler = h }

// OnChange calls f with the objects that changed (local writes and ops
// from peers), each once however many ops touched it. Calls never overlap
// with each other or with on_tick and on_peer. If f panics, the same changes
// come again later (at least once): read current values, do not replay.
func OnChange(f func([]Change)) { onChange = f }

// OnTick calls f every [serve] tick_interval.
func OnTick(f func()) { onTick = f }

// OnPeer calls f when a peer link comes up or goes down.
func OnPeer(f func(PeerEvent)) { onPeer = f }

// reqBuf, rw and hdrBuf are reused by every on_request of this instance
// (one handler runs at a time per instance).
var (
	reqBuf = make([]byte, 4096)
	rw     responseWriter
	hdrBuf []byte
)

//go:wasmexport on_request
func exportOnRequest() {
	n := httpRequest(ptr(reqBuf), uint32(len(reqBuf)))
	if n == abi.ErrBufferTooSmall {
		b, err := nx.Grow(2*len(reqBuf), func(p unsafe.Pointer, n uint32) int32 { return httpRequest(p, n) })
		if err != nil {
			respond(500, nil, []byte("serve: http_request: "+err.Error()))
			return
		}
		reqBuf = b[:cap(b)]
		n = int32(len(b))
	}
	if n < 0 {
		respond(500, nil, []byte("serve: http_request: "+nx.Error(n).Error()))
		return
	}
	req, err := abi.DecodeRequest(reqBuf[:n])
	if err != nil {
		respond(400, nil, []byte("serve: bad request encoding"))
		return
	}
	if handler == nil {
		respond(404, nil, []byte("no HTTP handler: the guest did not call serve.Serve"))
		return
	}
	hr, err := toHTTPRequest(req)
	if err != nil {
		respond(400, nil, []byte(err.Error()))
		return
	}
	w := &rw
	w.header, w.status = make(http.Header, 2), 0
	w.body.Reset()
	func() {
		defer func() {
			if r := recover(); r != nil {
				nx.LogError(fmt.Sprintf("serve: handler panicked: %v", r))
				w.header, w.status = http.Header{}, 500
				w.body.Reset()
				w.body.WriteString("internal error\n")
			}
		}()
		handler.ServeHTTP(w, hr)
	}()
	if w.status == 0 {
		w.status = 200
	}
	if w.header.Get("Content-Type") == "" && w.body.Len() > 0 {
		w.header.Set("Content-Type", http.DetectContentType(w.body.Bytes()))
	}
	respond(w.status, w.header, w.body.Bytes())
}

// toHTTPRequest builds the request the way net/http's server does, without
// re-parsing what the node has parsed: the target is a request URI, the
// headers are already split. The body is copied out of the reused buffer.
func toHTTPRequest(req *abi.Request) (*http.Request, error) {
	u, err := url.ParseRequestURI(req.Target)
	if err != nil {
		return nil, fmt.Errorf("serve: bad request target %q: %v", req.Target, err)
	}
	hr := &http.Request{Method: req.Method, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: make(http.Header, len(req.Headers)), RequestURI: req.Target, ContentLength: int64(len(req.Body)),
		Body: http.NoBody}
	if len(req.Body) > 0 {
		hr.Body = io.NopCloser(bytes.NewReader(bytes.Clone(req.Body)))
	}
	for _, h := range req.Headers {
		name := http.CanonicalHeaderKey(string(h.Key))
		if name == "Host" {
			hr.Host = string(h.Value)
			continue
		}
		hr.Header[name] = append(hr.Header[name], string(h.Value))
	}
	return hr, nil
}

func respond(status int, h http.Header, body []byte) {
	n := 0
	for _, vs := range h {
		n += len(vs)
	}
	enc := abi.AppendU32(hdrBuf[:0], uint32(n))
	for name, vs := range h {
		for _, v := range vs {
			enc = abi.AppendU32(enc, uint32(len(name)))
			for i := 0; i < len(name); i++ {
				c := name[i]
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				enc = append(enc, c)
			}
			enc = abi.AppendBytes(enc, []byte(v))
		}
	}
	hdrBuf = enc
	httpRespond(int32(status), ptr(enc), uint32(len(enc)), ptr(body), uint32(len(body)))
}

func ptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// responseWriter buffers the response: http_respond takes it whole.
type responseWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	return w.body.Write(p)
}

//go:wasmexport on_change
func exportOnChange() {
	if onChange == nil {
		return
	}
	b, err := nx.Grow(4096, func(p unsafe.Pointer, n uint32) int32 { return changes(p, n) })
	if err != nil {
		panic("serve: changes: " + err.Error())
	}
	cs, err := abi.DecodeChanges(b)
	if err != nil {
		panic("serve: bad changes encoding")
	}
	out := make([]Change, len(cs))
	for i, c := range cs {
		out[i] = Change{Type: Type(c.Type), Key: string(c.Key)}
	}
	onChange(out)
}

//go:wasmexport on_tick
func exportOnTick() {
	if onTick != nil {
		onTick()
	}
}

//go:wasmexport on_peer
func exportOnPeer() {
	if onPeer == nil {
		return
	}
	b, err := nx.Grow(256, func(p unsafe.Pointer, n uint32) int32 { return peerEvent(p, n) })
	if err != nil {
		panic("serve: peer_event: " + err.Error())
	}
	e, err := abi.DecodePeerEvent(b)
	if err != nil {
		panic("serve: bad peer event encoding")
	}
	onPeer(PeerEvent{Up: e.Up, NodeID: e.NodeID, Addr: e.Addr})
}

// Fetch sends req through the node (http_fetch): only to hosts in the
// node's [serve] fetch_allow, bounded by the invocation's time limit and the
// output limit. The response body is read in full.
func Fetch(req *http.Request) (*http.Response, error) {
	if req.URL == nil || !req.URL.IsAbs() {
		return nil, errors.New("serve: Fetch needs an absolute URL")
	}
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
	}
	r := abi.Request{Method: req.Method, Target: req.URL.String(), Body: body}
	if r.Method == "" {
		r.Method = http.MethodGet
	}
	for name, vs := range req.Header {
		for _, v := range vs {
			r.Headers = append(r.Headers, abi.Row{Key: []byte(strings.ToLower(name)), Value: []byte(v)})
		}
	}
	enc := abi.AppendRequest(nil, &r)
	b, err := nx.Grow(64<<10, func(p unsafe.Pointer, n uint32) int32 { return httpFetch(ptr(enc), uint32(len(enc)), p, n) })
	if err != nil {
		return nil, fmt.Errorf("serve: fetch %s: %w (is the host in [serve] fetch_allow?)", req.URL.Host, err)
	}
	resp, err := abi.DecodeResponse(b)
	if err != nil {
		return nil, errors.New("serve: bad fetch response encoding")
	}
	hr := &http.Response{StatusCode: int(resp.Status), Status: fmt.Sprintf("%d %s", resp.Status, http.StatusText(int(resp.Status))),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{}, Request: req,
		Body: io.NopCloser(bytes.NewReader(resp.Body)), ContentLength: int64(len(resp.Body))}
	for _, h := range resp.Headers {
		hr.Header.Add(string(h.Key), string(h.Value))
	}
	return hr, nil
}
