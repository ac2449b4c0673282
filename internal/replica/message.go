package replica

import "github.com/numax/numax/internal/crdt"

// Kind is a Message's kind (the replication part of wire.md).
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

// Message is one replication message. Fields by kind: PushOps: Ops; Ack:
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
}

// Transport sends messages to peers. Send must not block on the network for
// long; an error means the message was not sent (the peer is gone). The
// replica is told of link changes through PeerUp and PeerDown.
type Transport interface {
	Send(peer string, m *Message) error
	// Peers returns the NodeIds of the connected peers.
	Peers() []string
}
