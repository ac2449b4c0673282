// Package store is the node's embedded datastore: Pebble behind a small API.
//
// It owns the Pebble instance, the datastore lock and the background WAL sync
// of the "interval" durability mode. Keys live in separate key spaces (one
// leading byte each), so guest keys can never reach runtime keys. Every write
// is numbered in completion order; DurableSeq and WaitDurable tell callers when
// a write is on disk, which replication uses to send an op only once it is
// durable at its origin.
//
// The package knows nothing about guests, CRDTs or the network, and it never
// interprets the bytes it stores beyond the key-space byte.
package store
