//go:build wasip1

// Command distributed_settings edits a replicated settings map (LWW-Map):
// NX_SET=field=value sets a field, NX_UNSET=field removes one.
package main

import (
	"strings"

	nx "github.com/numax/numax/sdk/go"
	"github.com/numax/numax/sdk/go/lwwmap"
)

//go:wasmexport run
func run() {
	if kv, err := nx.Env("NX_SET"); err == nil {
		f, v, ok := strings.Cut(kv, "=")
		if !ok {
			nx.Abort("NX_SET must be field=value, got " + kv)
		}
		if err := lwwmap.Set("settings", f, []byte(v)); err != nil {
			nx.Abort(err.Error())
		}
	}
	if f, err := nx.Env("NX_UNSET"); err == nil {
		if err := lwwmap.Remove("settings", f); err != nil {
			nx.Abort(err.Error())
		}
	}
}

func main() {}
