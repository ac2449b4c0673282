// Package crdt holds Numax's replicated data types and the exactly-once
// delivery of the ops that change them (docs/crdt.md).
//
// The six types — GCounter, PNCounter, LWWRegister, LWWMap, ORSet, RGA — each
// have an op-based Apply and a state-based Merge that is commutative,
// associative and idempotent, plus a canonical binary encoding (the same state
// always encodes to the same bytes). State ties them together with a version
// vector: an op at or below the vector is a duplicate, the next one is
// applied, and ops ahead of a gap wait in a bounded per-origin buffer.
//
// Everything here is pure: no I/O, no goroutines, no clocks except the one
// passed to Clock. Persistence and replication live in package replica.
package crdt
