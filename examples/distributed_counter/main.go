//go:build wasip1

// Command distributed_counter counts visits across nodes: every run adds one
// visit on this node (NX_VISITS to add more) to a replicated GCounter. Each
// node owns its slot, so increments never conflict and totals converge.
package main

import (
	"fmt"
	"strconv"

	nx "github.com/numax/numax/sdk/go"
	"github.com/numax/numax/sdk/go/gcounter"
)

//go:wasmexport run
func run() {
	n := uint64(1)
	if s, err := nx.Env("NX_VISITS"); err == nil {
		v, perr := strconv.ParseUint(s, 10, 64)
		if perr != nil {
			nx.Abort("NX_VISITS must be a whole number, got " + strconv.Quote(s))
		}
		n = v
	}
	if err := gcounter.Inc("visits", n); err != nil {
		nx.Abort("increment: " + err.Error())
	}
	total, err := gcounter.Value("visits")
	if err != nil {
		nx.Abort("read: " + err.Error())
	}
	nx.Info(fmt.Sprintf("added %d visits; this node now sees %d", n, total))
}

func main() {}
