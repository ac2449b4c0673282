//go:build wasip1

// crdttour exercises every CRDT wrapper of the Go SDK and prints what it
// reads back; run twice on one datastore it shows the state persisted.
package main

import (
	"bytes"
	"fmt"

	nx "github.com/numax/numax/sdk/go"
	"github.com/numax/numax/sdk/go/gcounter"
	"github.com/numax/numax/sdk/go/lww"
	"github.com/numax/numax/sdk/go/lwwmap"
	"github.com/numax/numax/sdk/go/orset"
	"github.com/numax/numax/sdk/go/pncounter"
	"github.com/numax/numax/sdk/go/rga"
	"github.com/numax/numax/sdk/go/text"
)

func must(err error) {
	if err != nil {
		nx.Abort(err.Error())
	}
}

//go:wasmexport run
func run() {
	must(gcounter.Inc("visits", 2))
	v, err := gcounter.Value("visits")
	must(err)
	must(pncounter.Dec("stock", 3))
	p, err := pncounter.Value("stock")
	must(err)
	_, err = lww.Get("status")
	fmt.Printf("status before: %v\n", err)
	must(lww.Set("status", []byte("online")))
	st, err := lww.Get("status")
	must(err)
	must(lwwmap.Set("settings", "theme", []byte("dark")))
	must(lwwmap.Set("settings", "lang", []byte("en")))
	must(lwwmap.Remove("settings", "lang"))
	entries, err := lwwmap.Entries("settings")
	must(err)
	must(orset.Add("tags", []byte("go")))
	must(orset.Add("tags", []byte("wasm")))
	must(orset.Remove("tags", []byte("go")))
	tags, err := orset.Elements("tags")
	must(err)
	els, err := rga.Elements("doc")
	must(err)
	parent := rga.Head
	if len(els) > 0 {
		parent = els[len(els)-1].ID
	}
	_, err = rga.Insert("doc", parent, []byte(fmt.Sprintf("line%d", len(els)+1)))
	must(err)
	vals, err := rga.Values("doc")
	must(err)
	id, err := nx.NodeID()
	must(err)
	n, err := text.Len("note")
	must(err)
	must(text.Insert("note", n, "héllo "))
	must(text.Delete("note", 0, min(n, 1)))
	note, err := text.String("note")
	must(err)
	fmt.Printf("visits=%d stock=%d status=%s settings=%d:%s tags=%s doc=%s node=%d note=%q\n",
		v, p, st, len(entries), entries[0].Key, bytes.Join(tags, []byte(",")), bytes.Join(vals, []byte("|")), len(id), note)
}

func main() {}
