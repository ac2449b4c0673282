//go:build wasip1

// peers prints this node's NodeId and its connected peers (net_node_id,
// net_peers).
package main

import (
	"fmt"

	nx "github.com/numax/numax/sdk/go"
)

//go:wasmexport run
func run() {
	id, err := nx.NodeID()
	if err != nil {
		nx.Abort(err.Error())
	}
	peers, err := nx.Peers()
	if err != nil {
		nx.Abort(err.Error())
	}
	fmt.Printf("node %s\n", id)
	for _, p := range peers {
		fmt.Printf("peer %s %s\n", p.NodeID, p.Addr)
	}
}

func main() {}
