//go:build wasip1

// Command distributed_tags edits a replicated tag set (ORSet): NX_ADD and
// NX_REMOVE hold comma-separated tags. A remove takes away only the adds this
// node has seen, so a concurrent add elsewhere survives.
package main

import (
	"strings"

	nx "github.com/numax/numax/sdk/go"
	"github.com/numax/numax/sdk/go/orset"
)

func each(env string, f func([]byte) error) {
	s, err := nx.Env(env)
	if err != nil {
		return
	}
	for _, tag := range strings.Split(s, ",") {
		if tag = strings.TrimSpace(tag); tag != "" {
			if err := f([]byte(tag)); err != nil {
				nx.Abort(err.Error())
			}
		}
	}
}

//go:wasmexport run
func run() {
	each("NX_ADD", func(t []byte) error { return orset.Add("tags", t) })
	each("NX_REMOVE", func(t []byte) error { return orset.Remove("tags", t) })
}

func main() {}
