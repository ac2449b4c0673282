// Package replica is a node's replicated state: the CRDT objects, their op
// log and version vector on disk, and the protocol that keeps peers equal —
// push of new ops, relay, acknowledgements, anti-entropy by version-vector
// exchange, op-log pruning and snapshots (docs/crdt.md).
//
// It is transport-agnostic: a Transport sends Messages to peers by NodeId and
// the owner calls Handle for every Message that arrives. Replica owns its
// goroutines, started by Open: sendLoop (this node's own ops to every
// peer), relayLoop (ops learned from peers, to K of them after RelayDelay),
// gapLoop (asks a peer for ops missing behind a gap), linksLoop (tells peers
// this node's links), and, when their intervals are set, a random-pull
// ticker and the anti-entropy ticker; while handling messages it also starts
// short-lived goroutines that wait for an fsync before acknowledging. Close
// stops them all and waits for them. Every change — local or remote — is one atomic store batch of state,
// op-log entries and vector, and an op is pushed to peers only once the fsync
// that covers it has happened.
package replica
