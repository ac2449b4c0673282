//go:build wasip1

// Command distributed_comments is a replicated comment thread (RGA):
// NX_COMMENT appends a comment after the last one this node sees;
// NX_DELETE deletes every comment with that exact text.
package main

import (
	nx "github.com/numax/numax/sdk/go"
	"github.com/numax/numax/sdk/go/rga"
)

//go:wasmexport run
func run() {
	els, err := rga.Elements("comments")
	if err != nil {
		nx.Abort(err.Error())
	}
	if text, err := nx.Env("NX_DELETE"); err == nil {
		for _, e := range els {
			if string(e.Value) == text {
				if err := rga.Delete("comments", e.ID); err != nil {
					nx.Abort(err.Error())
				}
			}
		}
	}
	if text, err := nx.Env("NX_COMMENT"); err == nil {
		parent := rga.Head
		if len(els) > 0 {
			parent = els[len(els)-1].ID
		}
		if _, err := rga.Insert("comments", parent, []byte(text)); err != nil {
			nx.Abort(err.Error())
		}
	}
}

func main() {}
