package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/numax/numax/internal/abi"
	"github.com/numax/numax/internal/engine"
	"github.com/numax/numax/internal/hostapi"
)

// ReservedPrefix is the path prefix the node serves itself; it never
// reaches the guest.
const ReservedPrefix = "/_nx/"

// ServeHTTP routes /_nx/ to the node and everything else to on_request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusWriter{ResponseWriter: w, code: http.StatusOK}
	if strings.HasPrefix(r.URL.Path, ReservedPrefix) {
		s.serveReserved(rec, r)
	} else {
		s.serveGuest(rec, r)
	}
	if r.URL.Path != ReservedPrefix+"events" {
		s.m.request(rec.code)
		s.m.duration.Observe(time.Since(start).Seconds())
	}
}

func (s *Server) serveReserved(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case ReservedPrefix + "events":
		s.serveEvents(w, r)
	case ReservedPrefix + "health":
		select {
		case <-s.done:
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
		default:
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			io.WriteString(w, "ok\n")
		}
	default:
		http.NotFound(w, r)
	}
}

// requestID names one request in its error response and the log line.
func (s *Server) requestID() string {
	return fmt.Sprintf("%x-%d", time.Now().UnixMilli(), s.reqSeq.Add(1))
}

func (s *Server) serveGuest(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > s.cfg.MaxBody {
		http.Error(w, fmt.Sprintf("request body over %d bytes", s.cfg.MaxBody), http.StatusRequestEntityTooLarge)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, fmt.Sprintf("request body over %d bytes", s.cfg.MaxBody), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "could not read the request body", http.StatusBadRequest)
		return
	}
	req := abi.Request{Method: r.Method, Target: r.RequestURI, Body: body}
	names := make([]string, 0, len(r.Header)+1)
	for name := range r.Header {
		names = append(names, name)
	}
	slices.Sort(names)
	req.Headers = append(req.Headers, abi.Row{Key: []byte("host"), Value: []byte(r.Host)})
	for _, name := range names {
		lower := []byte(strings.ToLower(name))
		for _, v := range r.Header[name] {
			req.Headers = append(req.Headers, abi.Row{Key: lower, Value: []byte(v)})
		}
	}
	enc := abi.AppendRequest(nil, &req)

	s.m.queued.Add(1)
	inst, err := s.pool.acquire(r.Context(), true)
	s.m.queued.Add(-1)
	if err != nil {
		if errors.Is(err, errQueueFull) {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "the node is at capacity; try again", http.StatusServiceUnavailable)
			return
		}
		if errors.Is(err, errClosed) || s.ctx.Err() != nil {
			http.Error(w, "the node is shutting down", http.StatusServiceUnavailable)
			return
		}
		if r.Context().Err() != nil {
			return // the client left while queued
		}
		id := s.requestID()
		s.log.Error("request failed: no instance", "request_id", id, "err", err)
		s.fail(w, id, http.StatusInternalServerError)
		return
	}
	var (
		status  int
		headers []abi.Row
		out     []byte
	)
	call := &hostapi.Call{Handler: engine.ExportOnRequest, Request: enc,
		Respond: func(st int, hs []abi.Row, b []byte) { status, headers, out = st, hs, b }}
	// The guest finishes even if the client leaves; the time limit and
	// node shutdown bound it.
	err = s.call(s.ctx, inst, engine.ExportOnRequest, call)
	s.pool.release(context.WithoutCancel(s.ctx), inst, err != nil)
	if err != nil {
		id := s.requestID()
		code := http.StatusInternalServerError
		var te *engine.TimeoutError
		if errors.As(err, &te) {
			code = http.StatusGatewayTimeout
		}
		s.log.Error("on_request failed; instance replaced", "request_id", id, "handler", engine.ExportOnRequest,
			"method", r.Method, "path", r.URL.Path, "status", code, "err", err)
		s.fail(w, id, code)
		return
	}
	if !call.Responded() {
		id := s.requestID()
		s.log.Error("on_request returned without http_respond", "request_id", id, "method", r.Method, "path", r.URL.Path)
		s.fail(w, id, http.StatusInternalServerError)
		return
	}
	h := w.Header()
	for _, hd := range headers {
		h.Add(string(hd.Key), string(hd.Value))
	}
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

func (s *Server) fail(w http.ResponseWriter, id string, code int) {
	w.Header().Set("X-Request-Id", id)
	http.Error(w, fmt.Sprintf("%s (request id %s)", http.StatusText(code), id), code)
}

// statusWriter records the status for metrics and passes Flush through.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
