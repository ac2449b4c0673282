package wire

import (
	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/opauth"
)

// Kind is a Message's kind (the replication part of docs/wire-protocol.md).
type Kind int

const (
	// PushOps carries a batch of ops.
	PushOps Kind = iota + 1
	// Ack carries the receiver's version vector after applying a batch.
	Ack
	// PullSince asks for what the sender's version vector lacks.
	PullSince
	// Snapshot carries objects and the version vector they reflect.
	Snapshot
)

func (k Kind) String() string {
	switch k {
	case PushOps:
		return "PushOps"
	case Ack:
		return "Ack"
	case PullSince:
		return "PullSince"
	case Snapshot:
		return "Snapshot"
	}
	return "Unknown"
}

// Message is one replication message, decoded from a Frame by ToMessage
// and encoded by FromMessage. The replica layer speaks in Messages; this
// package owns them so that the codec does not depend on that layer.
// Fields by kind: PushOps: Ops; Ack:
// VV and Links; PullSince: VV; Snapshot: Objects (canonical encodings) and
// VV.
type Message struct {
	Kind Kind
	Ops  []*crdt.Op
	VV   map[string]uint64
	// Links, in an Ack, are the NodeIds the sender is connected to, sent
	// when they change (empty: unchanged).
	Links   []string
	Objects map[crdt.ObjKey][]byte
	// Heads and Certs, in PushOps and Snapshot, prove the ops' origins
	// (package opauth): signed heads, and DER certificates of origins whose
	// heads the link has not carried before.
	Heads []*opauth.Head
	Certs [][]byte
	// Answer, in PushOps, marks ops sent in answer to a PullSince.
	Answer bool
	// Have, Prune and Graft, in an Ack, are the relay tree's messages:
	// the ops the sender holds (origin -> seq) told to a peer that does
	// not relay to it, and the origins whose ops the receiver is to stop
	// (Prune) or start again (Graft) relaying to the sender.
	Have         map[string]uint64
	Prune, Graft []string
}
