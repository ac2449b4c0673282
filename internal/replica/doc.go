// Package replica is a node's replicated state: the CRDT objects, their op
// log and version vector on disk, and the protocol that keeps peers equal —
// push of new ops, relay, acknowledgements, anti-entropy by version-vector
// exchange, op-log pruning and snapshots (crdt.md).
//
// It is transport-agnostic: a Transport sends Messages to peers by NodeId and
// the owner calls Handle for every Message that arrives. Replica owns its
// goroutines (the outbound sender and the anti-entropy ticker); Close stops
// them. Every change — local or remote — is one atomic store batch of state,
// op-log entries and vector, and an op is pushed to peers only once the fsync
// that covers it has happened.
package replica
