//go:build wasip1

// Command trivial_http_go answers every request 200 "ok" through
// serve.Serve and net/http, for nx bench serve.
package main

import (
	"io"
	"net/http"

	"github.com/numax/numax/sdk/go/serve"
)

func init() {
	serve.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
}

func main() {}
