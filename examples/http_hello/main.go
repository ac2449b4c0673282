//go:build wasip1

// Command http_hello is a service module written with net/http: a ServeMux
// with a text route, a JSON route and static files embedded in the module.
package main

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"

	nx "github.com/numax/numax/sdk/go"
	"github.com/numax/numax/sdk/go/serve"
)

//go:embed static
var static embed.FS

func init() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("name")
		if name == "" {
			name = "world"
		}
		fmt.Fprintf(w, "hello, %s\n", name)
	})
	mux.HandleFunc("GET /info", func(w http.ResponseWriter, r *http.Request) {
		id, _ := nx.ModuleID()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"module": id, "method": r.Method, "path": r.URL.Path})
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
			http.Error(w, "want a JSON object: "+err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	})
	files, err := fs.Sub(static, "static")
	if err != nil {
		panic(err)
	}
	mux.Handle("GET /", http.FileServerFS(files))
	serve.Serve(mux)
}

func main() {}
