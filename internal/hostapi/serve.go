package hostapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero/api"

	"github.com/numax/numax/internal/abi"
)

// Call is one service handler invocation as the host functions see it: what
// the handler may read (the request, the changes, the peer event) and where
// its response goes. The serving layer puts it in the invocation's context
// (WithCall); outside a handler there is none, and the serving functions
// answer -3.
type Call struct {
	// Handler is the export being called (engine.ExportOnRequest, ...).
	Handler string
	// Request is the encoded request (on_request).
	Request []byte
	// Respond receives the response (on_request); it is called at most once.
	Respond func(status int, headers []abi.Row, body []byte)
	// Changes is the encoded changes list (on_change).
	Changes []byte
	// Peer is the encoded peer event (on_peer).
	Peer []byte

	mu        sync.Mutex
	responded bool
	// fetched keeps the last http_fetch answer, so that a retry with a
	// larger buffer after -2 does not send the request again.
	fetchedReq, fetchedResp []byte
}

// Responded reports whether http_respond was called.
func (c *Call) Responded() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.responded
}

type callKey struct{}

// WithCall returns ctx carrying c for the host functions.
func WithCall(ctx context.Context, c *Call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

func callFrom(ctx context.Context, handler string) *Call {
	c, _ := ctx.Value(callKey{}).(*Call)
	if c == nil || (handler != "" && c.Handler != handler) {
		return nil
	}
	return c
}

// Limits of the serving functions that are not [limits] keys.
const (
	// MaxResponseHeaders bounds the header list a guest passes to
	// http_respond or http_fetch.
	MaxResponseHeaders = 64 << 10
)

// outBytes answers a reader function with data: -3 for a bad buffer, -2
// when it does not fit, else the byte count.
func (h *Host) outBytes(mod api.Module, outP, outN uint32, data []byte) int32 {
	a := h.args(mod)
	a.out(outP, outN)
	if !a.ok() {
		return abi.ErrInternal
	}
	return write(mod, outP, outN, data)
}

// callReader is a host function that copies one part of the current call
// (the request, the changes, the peer event) to the guest: -3 outside the
// handler it belongs to.
func (h *Host) callReader(handler string, part func(*Call) []byte) api.GoModuleFunc {
	return func(ctx context.Context, mod api.Module, s []uint64) {
		c := callFrom(ctx, handler)
		if c == nil {
			ret(s, abi.ErrInternal)
			return
		}
		ret(s, h.outBytes(mod, u32(s[0]), u32(s[1]), part(c)))
	}
}

// validHeaders reports whether every header name is an HTTP token and no
// value carries CR, LF or NUL (no header injection).
func validHeaders(hs []abi.Row) bool {
	for _, hd := range hs {
		if len(hd.Key) == 0 {
			return false
		}
		for _, c := range hd.Key {
			if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
				return false
			}
		}
		if bytes.ContainsAny(hd.Value, "\r\n\x00") {
			return false
		}
	}
	return true
}

func (h *Host) httpRespond(ctx context.Context, mod api.Module, s []uint64) {
	a := h.args(mod)
	status := api.DecodeI32(s[0])
	hb := a.read(u32(s[1]), u32(s[2]), MaxResponseHeaders)
	body := a.read(u32(s[3]), u32(s[4]), h.Limits.MaxOutput)
	c := callFrom(ctx, "on_request")
	if !a.ok() || c == nil || status < 100 || status > 599 {
		ret(s, abi.ErrInternal)
		return
	}
	headers, err := abi.DecodePairs(hb)
	if err != nil || !validHeaders(headers) {
		ret(s, abi.ErrInternal)
		return
	}
	c.mu.Lock()
	if c.responded {
		c.mu.Unlock()
		ret(s, abi.ErrInternal)
		return
	}
	c.responded = true
	c.mu.Unlock()
	// Copy out of guest memory: the response outlives the call.
	hs := make([]abi.Row, len(headers))
	for i, hd := range headers {
		hs[i] = abi.Row{Key: bytes.Clone(hd.Key), Value: bytes.Clone(hd.Value)}
	}
	c.Respond(int(status), hs, bytes.Clone(body))
	ret(s, abi.OK)
}

// FetchAllowed reports whether u's host may be fetched under allow: an
// entry is a host name or address ("api.example.com", "127.0.0.1") that
// admits any port, or host:port that admits that port only.
func FetchAllowed(allow []string, u *url.URL) bool {
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	for _, a := range allow {
		if h, p, err := net.SplitHostPort(a); err == nil {
			if strings.EqualFold(h, host) && p == port {
				return true
			}
		} else if strings.EqualFold(a, host) {
			return true
		}
	}
	return false
}

func (h *Host) httpFetch(ctx context.Context, mod api.Module, s []uint64) {
	a := h.args(mod)
	reqB := a.read(u32(s[0]), u32(s[1]), h.Limits.MaxOutput)
	outP, outN := u32(s[2]), u32(s[3])
	a.out(outP, outN)
	if !a.ok() {
		ret(s, abi.ErrInternal)
		return
	}
	c, _ := ctx.Value(callKey{}).(*Call)
	if c != nil {
		c.mu.Lock()
		if c.fetchedResp != nil && bytes.Equal(c.fetchedReq, reqB) {
			resp := c.fetchedResp
			c.mu.Unlock()
			ret(s, write(mod, outP, outN, resp))
			return
		}
		c.mu.Unlock()
	}
	resp, err := h.fetch(ctx, reqB)
	if err != nil {
		h.Logger.LogAttrs(ctx, slog.LevelWarn, "http_fetch refused or failed",
			slog.String("module", moduleName(mod)), slog.Any("err", err))
		ret(s, abi.ErrInternal)
		return
	}
	if c != nil {
		c.mu.Lock()
		c.fetchedReq, c.fetchedResp = bytes.Clone(reqB), resp
		c.mu.Unlock()
	}
	ret(s, write(mod, outP, outN, resp))
}

// errNotAllowed is an http_fetch to a host outside [serve] fetch_allow.
var errNotAllowed = errors.New("host not in [serve] fetch_allow")

func (h *Host) fetch(ctx context.Context, reqB []byte) ([]byte, error) {
	req, err := abi.DecodeRequest(reqB)
	if err != nil {
		return nil, fmt.Errorf("bad request encoding: %w", err)
	}
	u, err := url.Parse(req.Target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("target %q is not an absolute http(s) URL", req.Target)
	}
	if !FetchAllowed(h.FetchAllow, u) {
		return nil, fmt.Errorf("%w: %s", errNotAllowed, u.Host)
	}
	if !validHeaders(req.Headers) {
		return nil, errors.New("invalid request header")
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, u.String(), bytes.NewReader(req.Body))
	if err != nil {
		return nil, err
	}
	for _, hd := range req.Headers {
		hr.Header.Add(string(hd.Key), string(hd.Value))
	}
	client := h.FetchClient
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(hr)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, int64(h.Limits.MaxOutput)+1))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if len(body) > int(h.Limits.MaxOutput) {
		return nil, fmt.Errorf("response body over the output limit of %d bytes", h.Limits.MaxOutput)
	}
	var hs []abi.Row
	for name, vs := range res.Header {
		for _, v := range vs {
			hs = append(hs, abi.Row{Key: []byte(strings.ToLower(name)), Value: []byte(v)})
		}
	}
	return abi.AppendResponse(nil, &abi.Response{Status: uint32(res.StatusCode), Headers: hs, Body: body}), nil
}
