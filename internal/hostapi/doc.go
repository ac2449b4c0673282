// Package hostapi is the `nx` host module: the functions of docs/host-abi.md that a
// guest imports, bound to one node's store, logger and (with sync) replication.
//
// Like wazero's imports/wasi_snapshot_preview1, it exposes ModuleName and one
// Instantiate(ctx, runtime, host). Every function validates in the order the
// spec fixes — arguments and limits (-3), reserved prefix (-4), sync enabled
// (-5), then the operation — reads and writes guest memory only through
// api.Memory with bounds checked, writes output only on success, and never
// panics on guest input. It does not compile or run guests (package engine
// does) and keeps no state beyond what Host holds.
package hostapi
