//go:build wasip1

// Command hello is the smallest Numax guest: it logs a greeting through the
// node's structured logger.
package main

import nx "github.com/numax/numax/sdk/go"

//go:wasmexport run
func run() {
	id, err := nx.ModuleID()
	if err != nil {
		nx.Abort("module_id: " + err.Error())
	}
	nx.Info("Hello from Numax!")
	nx.Debug("running as " + id)
}

func main() {}
