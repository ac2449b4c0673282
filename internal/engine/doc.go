// Package engine compiles and runs guest modules on wazero.
//
// It owns the wazero runtime and its on-disk compilation cache, instantiates
// WASI preview1 and the `nx` host module (package hostapi) once, checks a
// guest's imports against both before running anything, and runs one
// invocation at a time under the memory cap and wall-time limit of the
// configuration. Every way a guest can fail comes back as a typed error with
// a one-line message (errors.go); the node itself never fails with it.
//
// It knows nothing about the CLI, the network or replication.
package engine
