//go:build wasip1

// Command distributed_chat is a chat room on a replicated log (RGA): it
// prints the history this node has, then appends NX_USER's NX_MESSAGE.
// Offline nodes keep chatting; when they reconnect the logs merge the same
// way everywhere.
package main

import (
	"fmt"

	nx "github.com/numax/numax/sdk/go"
	"github.com/numax/numax/sdk/go/rga"
)

//go:wasmexport run
func run() {
	els, err := rga.Elements("room")
	if err != nil {
		nx.Abort(err.Error())
	}
	for _, e := range els {
		fmt.Printf("  %s\n", e.Value)
	}
	user, err := nx.Env("NX_USER")
	if err != nil {
		user = "anonymous"
	}
	msg, err := nx.Env("NX_MESSAGE")
	if err != nil {
		return
	}
	parent := rga.Head
	if len(els) > 0 {
		parent = els[len(els)-1].ID
	}
	if _, err := rga.Insert("room", parent, []byte(user+": "+msg)); err != nil {
		nx.Abort(err.Error())
	}
}

func main() {}
