// Package numax embeds a Numax node: a sandboxed WebAssembly guest next to an
// embedded datastore, behind the host API of docs/host-abi.md, and, when
// Config.Network.Listen is set, the replicated CRDT state, its links to peers
// and peer discovery.
//
// Open validates the whole of a flat Config before it opens anything, then
// builds the node; if a later step fails it closes what it had built. Run
// executes one guest invocation and may be called concurrently. Close stops
// in-flight Runs, waits for them, and shuts the parts down in order (engine,
// discovery, replica, links, datastore, observability endpoint). Close may be
// called more than once: later calls do nothing and return ErrClosed, as Run
// does after Close. The `nx` CLI is a thin wrapper around this package.
// RATIONALE.md explains what the package exposes and why.
//
//	node, err := numax.Open(ctx, numax.DefaultConfig())
//	...
//	defer node.Close(ctx)
//	err = node.Run(ctx, wasm, numax.RunOptions{ID: "app.wasm"})
package numax
