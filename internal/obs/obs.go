// Package obs serves a node's observability endpoint: /health (liveness),
// /ready (503 until the node is ready and again while it shuts down) and
// /metrics (Prometheus text format from a registry). It owns its HTTP server
// and listener; Close stops them.
package obs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server is a running observability endpoint.
type Server struct {
	ln    net.Listener
	srv   *http.Server
	ready atomic.Bool
	// check, if set, names why the node is not ready though started (a
	// degraded datastore); "" when it is.
	check atomic.Pointer[func() string]
	done  chan struct{}
}

// Listen binds addr (so a port in use fails here) and starts serving reg,
// and page (if set) at every other path.
// The node starts not ready.
func Listen(addr string, reg *prometheus.Registry, timeout time.Duration, log *slog.Logger, page http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("observability listen on %s: %w", addr, err)
	}
	s := &Server{ln: ln, done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !s.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready\n"))
			return
		}
		if f := s.check.Load(); f != nil {
			if why := (*f)(); why != "" {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte("not ready: " + why + "\n"))
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Timeout: timeout}))
	if page != nil {
		// The node status page and its API (package status).
		mux.Handle("/", page)
	}
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout + time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("observability endpoint stopped", "err", err)
		}
	}()
	return s, nil
}

// Addr returns the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// SetCheck makes /ready answer 503 while f returns a reason.
func (s *Server) SetCheck(f func() string) { s.check.Store(&f) }

// SetReady sets what /ready answers.
func (s *Server) SetReady(r bool) { s.ready.Store(r) }

// Close stops the server. A second Close returns http.ErrServerClosed.
func (s *Server) Close(ctx context.Context) error {
	s.ready.Store(false)
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}

// Loopback reports whether addr (host:port) listens only on a loopback
// address (127.0.0.0/8, ::1 or localhost): where the node status page may
// serve without a token.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
