//go:build wasip1

// Command distributed_inventory keeps a replicated stock level (PNCounter):
// NX_ACTION=restock|sell with NX_QTY units. Stores restock and sell at the
// same time without coordination; every node converges to the same stock.
package main

import (
	"fmt"
	"strconv"

	nx "github.com/numax/numax/sdk/go"
	"github.com/numax/numax/sdk/go/pncounter"
)

//go:wasmexport run
func run() {
	action, _ := nx.Env("NX_ACTION")
	qs, err := nx.Env("NX_QTY")
	if err != nil {
		qs = "1"
	}
	qty, err := strconv.ParseUint(qs, 10, 64)
	if err != nil {
		nx.Abort("NX_QTY must be a whole number, got " + strconv.Quote(qs))
	}
	switch action {
	case "restock":
		err = pncounter.Inc("stock", qty)
	case "sell":
		err = pncounter.Dec("stock", qty)
	case "":
	default:
		nx.Abort("NX_ACTION must be restock or sell, got " + strconv.Quote(action))
	}
	if err != nil {
		nx.Abort(err.Error())
	}
	v, err := pncounter.Value("stock")
	if err != nil {
		nx.Abort(err.Error())
	}
	nx.Info(fmt.Sprintf("%s %d; stock seen here: %d", action, qty, v))
}

func main() {}
