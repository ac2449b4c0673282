// Package status is the node status page: a read-only page at GET / of the
// observability endpoint and the JSON API it reads, under /api/v1/: the
// node's identity, its peers with their health and replication lag, its
// version vector, discovery, recent guest events, and a browser of its
// CRDT objects by type with paged values.
//
// With a token every request must carry it (Authorization: Bearer TOKEN, or
// ?token=TOKEN for the page in a browser); without one the caller serves
// it only on loopback addresses (the node refuses to start otherwise).
package status

import (
	"crypto/subtle"
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed page
var page embed.FS

// Peer is one peer as the page shows it.
type Peer struct {
	NodeID string `json:"node_id,omitempty"`
	Addr   string `json:"addr,omitempty"`
	// Health is "connected", or the dialer's view of an address that is
	// not: "healthy", "suspect", "dead" or "refused".
	Health string `json:"health"`
	// Lag is how many ops the peer is known to lack.
	Lag uint64 `json:"lag"`
}

// Node is GET /api/v1/node.
type Node struct {
	NodeID    string            `json:"node_id"`
	Version   string            `json:"version"`
	Uptime    float64           `json:"uptime_seconds"`
	Sync      bool              `json:"sync"`
	Peers     []Peer            `json:"peers"`
	VV        map[string]uint64 `json:"version_vector"`
	Discovery Discovery         `json:"discovery"`
	Events    []Event           `json:"events"`
}

// Discovery is the node's discovery mode and membership size.
type Discovery struct {
	Mode    string `json:"mode"`
	Members int    `json:"members"`
}

// Source is what the page reads from the node.
type Source interface {
	// Node returns the node's state (Events is filled in here).
	Node() Node
	// Keys returns up to limit keys of objects of type t (a CRDT type
	// name) after the key after, sorted.
	Keys(t, after string, limit int) ([]string, error)
	// Value returns object (t, key): a scalar, or the items of a
	// collection; found is false for an absent object.
	Value(t, key string) (scalar string, items []string, collection, found bool, err error)
}

// maxLimit bounds every page of keys or items.
const maxLimit = 1000

// Handler serves the page and the API for src; token, if set, is required.
func Handler(src Source, events *Events, token string) http.Handler {
	mux := http.NewServeMux()
	files, _ := fs.Sub(page, "page")
	mux.Handle("GET /{$}", http.FileServerFS(files))
	mux.Handle("GET /status.js", http.FileServerFS(files))
	mux.Handle("GET /status.css", http.FileServerFS(files))
	mux.HandleFunc("GET /api/v1/node", func(w http.ResponseWriter, _ *http.Request) {
		n := src.Node()
		n.Events = events.List()
		writeJSON(w, http.StatusOK, n)
	})
	mux.HandleFunc("GET /api/v1/objects/{type}", func(w http.ResponseWriter, r *http.Request) {
		limit, ok := intParam(w, r, "limit", 100)
		if !ok {
			return
		}
		keys, err := src.Keys(r.PathValue("type"), r.URL.Query().Get("after"), min(limit, maxLimit))
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		out := map[string]any{"type": r.PathValue("type"), "keys": keys}
		if len(keys) == min(limit, maxLimit) && len(keys) > 0 {
			out["next"] = keys[len(keys)-1]
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /api/v1/objects/{type}/{key...}", func(w http.ResponseWriter, r *http.Request) {
		offset, ok := intParam(w, r, "offset", 0)
		if !ok {
			return
		}
		limit, ok := intParam(w, r, "limit", 100)
		if !ok {
			return
		}
		t, key := r.PathValue("type"), r.PathValue("key")
		scalar, items, coll, found, err := src.Value(t, key)
		switch {
		case err != nil:
			writeError(w, http.StatusBadRequest, err.Error())
			return
		case !found:
			writeError(w, http.StatusNotFound, "no "+t+" object "+strconv.Quote(key))
			return
		}
		out := map[string]any{"type": t, "key": key}
		if !coll {
			out["value"] = scalar
		} else {
			total := len(items)
			from := min(offset, total)
			to := min(from+min(limit, maxLimit), total)
			out["items"], out["offset"], out["total"] = items[from:to], from, total
		}
		writeJSON(w, http.StatusOK, out)
	})
	if token == "" {
		return mux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		given := r.URL.Query().Get("token")
		if h, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			given = h
		}
		if subtle.ConstantTimeCompare([]byte(given), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="numax"`)
			writeError(w, http.StatusUnauthorized, "this page needs the node's observability token (Authorization: Bearer TOKEN, or ?token=TOKEN)")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func intParam(w http.ResponseWriter, r *http.Request, name string, def int) (int, bool) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, true
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		writeError(w, http.StatusBadRequest, name+" must be a whole number >= 0, got "+strconv.Quote(s))
		return 0, false
	}
	return v, true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// Event is one guest event the node published.
type Event struct {
	Name    string    `json:"name"`
	Payload string    `json:"payload"`
	At      time.Time `json:"at"`
}

// Events keeps the last guest events (a bounded ring).
type Events struct {
	mu   sync.Mutex
	ring []Event
	next int
	full bool
}

// eventsKept and payloadShown bound the ring.
const (
	eventsKept   = 50
	payloadShown = 256
)

// Add records an event (its payload cut to payloadShown bytes).
func (e *Events) Add(name string, payload []byte) {
	if len(payload) > payloadShown {
		payload = payload[:payloadShown]
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ring == nil {
		e.ring = make([]Event, eventsKept)
	}
	e.ring[e.next] = Event{Name: name, Payload: strings.ToValidUTF8(string(payload), "\uFFFD"), At: time.Now().UTC()}
	e.next = (e.next + 1) % eventsKept
	e.full = e.full || e.next == 0
}

// List returns the kept events, newest first.
func (e *Events) List() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []Event{}
	n := e.next
	if e.full {
		n = eventsKept
	}
	for i := 1; i <= n; i++ {
		out = append(out, e.ring[(e.next-i+eventsKept)%eventsKept])
	}
	return out
}
