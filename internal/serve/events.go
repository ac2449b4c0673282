package serve

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// event is one guest event_emit, as the SSE stream sends it.
type event struct {
	id   uint64
	name string
	data []byte
}

// ring keeps the last events for clients that reconnect with
// Last-Event-ID. Ids increase by one per event, from 1.
type ring struct {
	// mu guards buf, next and wake.
	mu   sync.Mutex
	buf  []event // oldest first, at most size
	size int
	next uint64
	// wake is closed (and replaced) when an event is published.
	wake chan struct{}
}

func newRing(size int) *ring {
	return &ring{size: size, next: 1, wake: make(chan struct{})}
}

func (r *ring) publish(name string, data []byte) {
	r.mu.Lock()
	e := event{id: r.next, name: name, data: data}
	r.next++
	if len(r.buf) == r.size {
		copy(r.buf, r.buf[1:])
		r.buf[len(r.buf)-1] = e
	} else {
		r.buf = append(r.buf, e)
	}
	close(r.wake)
	r.wake = make(chan struct{})
	r.mu.Unlock()
}

// since returns the events after id, whether some after id are gone from
// the ring (the client must reload), the id of the newest event, and a
// channel closed at the next publish.
func (r *ring) since(id uint64) (evs []event, gone bool, last uint64, wake <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	last = r.next - 1
	if id > last {
		// An id from before a restart (ids start again at 1): all is gone.
		return nil, true, last, r.wake
	}
	if len(r.buf) > 0 && r.buf[0].id > id+1 {
		gone = true
	}
	for _, e := range r.buf {
		if e.id > id {
			evs = append(evs, e)
		}
	}
	return evs, gone, last, r.wake
}

// writeEvent writes one SSE event; data lines are split at newlines.
func writeEvent(w *bytes.Buffer, id uint64, name string, data []byte) {
	fmt.Fprintf(w, "id: %d\nevent: %s\n", id, name)
	for _, line := range bytes.Split(data, []byte("\n")) {
		w.WriteString("data: ")
		w.Write(bytes.TrimSuffix(line, []byte("\r")))
		w.WriteByte('\n')
	}
	w.WriteByte('\n')
}

// keepAlive is how often an idle stream gets a comment line, so that
// proxies and clients see it alive.
const keepAlive = 15 * time.Second

// serveEvents is GET /_nx/events.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	if n := s.sseClients.Add(1); n > int64(s.cfg.MaxSSEClients) {
		s.sseClients.Add(-1)
		http.Error(w, fmt.Sprintf("too many event streams (at most %d)", s.cfg.MaxSSEClients), http.StatusServiceUnavailable)
		return
	}
	defer s.sseClients.Add(-1)
	prefix := r.URL.Query().Get("prefix")
	var cursor uint64
	resume := false
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			http.Error(w, "Last-Event-ID must be an event id", http.StatusBadRequest)
			return
		}
		cursor, resume = id, true
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	var buf bytes.Buffer
	evs, gone, last, wake := s.events.since(cursor)
	if !resume {
		// A new client starts from now.
		evs, gone, cursor = nil, false, last
	} else if gone {
		writeEvent(&buf, last, "nx.reset", []byte("events were missed; reload"))
		evs, cursor = nil, last
	}
	buf.WriteString(": numax events\n\n")
	timer := time.NewTimer(keepAlive)
	defer timer.Stop()
	for {
		for _, e := range evs {
			cursor = e.id
			if strings.HasPrefix(e.name, prefix) {
				writeEvent(&buf, e.id, e.name, e.data)
			}
		}
		if buf.Len() > 0 {
			if _, err := w.Write(buf.Bytes()); err != nil {
				return
			}
			flusher.Flush()
			buf.Reset()
		}
		select {
		case <-wake:
		case <-timer.C:
			buf.WriteString(": keep-alive\n\n")
			timer.Reset(keepAlive)
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
		evs, gone, _, wake = s.events.since(cursor)
		if gone {
			// The client fell further behind than the ring holds.
			_, _, cursor, wake = s.events.since(^uint64(0) >> 1)
			writeEvent(&buf, cursor, "nx.reset", []byte("events were missed; reload"))
			evs = nil
		}
	}
}
