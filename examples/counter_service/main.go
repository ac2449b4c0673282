//go:build wasip1

// Command counter_service is a replicated counter served over HTTP on every
// node: POST /hit adds one, GET /count reads the cluster-wide total, and
// whenever the total changes (a hit here or one replicated from a peer) the
// node publishes it as the event "count" on /_nx/events.
package main

import (
	"encoding/json"
	"net/http"
	"strconv"

	nx "github.com/numax/numax/sdk/go"
	"github.com/numax/numax/sdk/go/gcounter"
	"github.com/numax/numax/sdk/go/serve"
)

const key = "hits"

func init() {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hit", func(w http.ResponseWriter, r *http.Request) {
		if err := gcounter.Inc(key, 1); err != nil {
			// -5 without --listen, -3 when the send queue is full.
			http.Error(w, "increment: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		writeCount(w)
	})
	mux.HandleFunc("GET /count", func(w http.ResponseWriter, r *http.Request) { writeCount(w) })
	serve.Serve(mux)
	serve.OnChange(func(cs []serve.Change) {
		for _, c := range cs {
			if c.Type == serve.GCounter && c.Key == key {
				n, err := gcounter.Value(key)
				if err != nil {
					panic(err) // retried later with the same changes
				}
				if err := nx.Emit("count", []byte(strconv.FormatUint(n, 10))); err != nil {
					panic(err)
				}
			}
		}
	})
}

func writeCount(w http.ResponseWriter) {
	n, err := gcounter.Value(key)
	if err != nil {
		http.Error(w, "read: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]uint64{"count": n})
}

func main() {}
