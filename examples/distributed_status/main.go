//go:build wasip1

// Command distributed_status sets a replicated status (LWW-Register) from
// NX_STATUS. Concurrent writes resolve to the same winner everywhere: the
// one with the largest hybrid-logical timestamp (then NodeId).
package main

import (
	nx "github.com/numax/numax/sdk/go"
	"github.com/numax/numax/sdk/go/lww"
)

//go:wasmexport run
func run() {
	s, err := nx.Env("NX_STATUS")
	if err != nil {
		return // nothing to set: just sync and print
	}
	if err := lww.Set("status", []byte(s)); err != nil {
		nx.Abort(err.Error())
	}
	nx.Info("status set to " + s)
}

func main() {}
