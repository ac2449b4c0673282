// Package numax embeds a Numax node: a sandboxed WebAssembly guest next to an
// embedded datastore, behind the host API of host-abi.md.
//
// A Node owns the datastore (package store) and the wazero engine (package
// engine) with the `nx` host module bound to them. Open validates a flat
// Config, Run executes one guest invocation, Close shuts down in order
// (engine, then datastore) and is idempotent. The `nx` CLI is a thin wrapper
// around this package.
//
//	node, err := numax.Open(ctx, numax.DefaultConfig())
//	...
//	defer node.Close(ctx)
//	err = node.Run(ctx, wasm, numax.RunOptions{ID: "app.wasm"})
package numax
