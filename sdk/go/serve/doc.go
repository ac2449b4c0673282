// Package serve makes a Go guest a service module (docs/serving.md): it
// exports the handlers on_request, on_change, on_tick and on_peer, and lets
// the guest answer HTTP with the standard library's net/http.
//
//	//go:embed static
//	var static embed.FS
//
//	func init() {
//		mux := http.NewServeMux()
//		mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
//			fmt.Fprintln(w, "hello")
//		})
//		mux.Handle("GET /", http.FileServerFS(static))
//		serve.Serve(mux)
//		serve.OnChange(func(cs []serve.Change) { ... })
//	}
//
//	func main() {}
//
// It is a package of its own, not part of package nx, so that importing the
// base SDK never turns a job into a service nor links net/http into it:
// importing serve exports all four handlers, and a handler nothing was
// registered for does nothing (on_request answers 404). Register in init (or
// main): the node calls init, then the handlers, in any instance of the
// module, so guest memory is per instance and may be discarded at any time;
// keep state in the store and the CRDTs.
package serve
