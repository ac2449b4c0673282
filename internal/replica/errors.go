package replica

import (
	"errors"
	"fmt"
)

var (
	// ErrExhausted refuses a local write whose sequence number or timestamp
	// would overflow (a datastore that recorded the maximum); it never wraps.
	ErrExhausted = errors.New("replica: this node's op sequence or clock is at its maximum; no further writes are possible without wrapping")
	// ErrBackpressure refuses a local write while the outbound queue is full.
	ErrBackpressure = errors.New("replica: outbound queue full (limits.queued_ops_limit); peers are not keeping up")
	// ErrNoop reports a local write that changes nothing and emits no op
	// (an ORSet remove of an element this node has not seen).
	ErrNoop = errors.New("replica: nothing to do")
	// ErrNotFound reports a local write naming an element that does not
	// exist here (an RGA parent or element id).
	ErrNotFound = errors.New("replica: element not found")
	// ErrRange reports a local Text edit at a position past the end.
	ErrRange = errors.New("replica: position out of range")
	// ErrRejected reports a local write the caller's check refused before
	// anything changed.
	ErrRejected = errors.New("replica: rejected by caller")
	// ErrRecovering refuses a local write while the datastore has lost
	// acknowledged writes and no peer has yet given this node's ops back:
	// writing would reuse sequence numbers peers already hold.
	ErrRecovering = errors.New("replica: this datastore lost acknowledged writes; local writes wait until a peer gives this node's ops back " +
		"(start it with its peers reachable, or with --accept-data-loss under a new NodeId)")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("replica: closed")
)

// IdentityError refuses a datastore written under another NodeId.
type IdentityError struct {
	Stored, Current string
}

func (e *IdentityError) Error() string {
	return fmt.Sprintf("datastore belongs to node %s but this node is %s; a node's counter slots must never be shared by two identities (start with --adopt-identity to take it over deliberately)", e.Stored, e.Current)
}

// CorruptError stops hydration at a record that does not decode.
type CorruptError struct {
	What string // "CRDT gcounter \"visits\"", "version vector", ...
	Key  []byte
	Err  error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("corrupt %s record (store key %q): %v", e.What, e.Key, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }
