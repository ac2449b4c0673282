//go:build wasip1

// Command vote_tally_tls counts votes across an mTLS cluster: NX_VOTE names a
// candidate, whose GCounter "votes:<candidate>" this node increments. Only
// nodes with certificates from the cluster CA (and on --allowed-peers) can
// take part, and a node's identity is its key, so no one can vote as another.
package main

import (
	nx "github.com/numax/numax/sdk/go"
	"github.com/numax/numax/sdk/go/gcounter"
)

//go:wasmexport run
func run() {
	c, err := nx.Env("NX_VOTE")
	if err != nil {
		return
	}
	if err := gcounter.Inc("votes:"+c, 1); err != nil {
		nx.Abort(err.Error())
	}
	id, _ := nx.NodeID()
	nx.Info("node " + id + " voted for " + c)
}

func main() {}
