//go:build wasip1

// Command kv_counter counts its own runs in the node's local datastore: every
// `nx run` with the same --datastore-path adds one.
package main

import (
	"errors"
	"fmt"
	"strconv"

	nx "github.com/numax/numax/sdk/go"
)

var key = []byte("runs")

//go:wasmexport run
func run() {
	n := uint64(0)
	v, err := nx.Get(key)
	switch {
	case errors.Is(err, nx.ErrNotFound):
	case err != nil:
		nx.Abort("read counter: " + err.Error())
	default:
		if n, err = strconv.ParseUint(string(v), 10, 64); err != nil {
			nx.Abort("counter holds " + strconv.Quote(string(v)))
		}
	}
	n++
	if err := nx.Set(key, []byte(strconv.FormatUint(n, 10))); err != nil {
		nx.Abort("write counter: " + err.Error())
	}
	fmt.Printf("runs = %d\n", n)
	nx.Info("counter updated")
}

func main() {}
