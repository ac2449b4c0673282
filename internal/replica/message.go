package replica

import "github.com/numax/numax/internal/wire"

// Message is one replication message (wire.Message: the codec owns the
// type, the replica layer uses it).
type Message = wire.Message

// Kind is a Message's kind.
type Kind = wire.Kind

// The message kinds.
const (
	PushOps   = wire.PushOps
	Ack       = wire.Ack
	PullSince = wire.PullSince
	Snapshot  = wire.Snapshot
)

// Transport sends messages to peers. Send must not block on the network for
// long; an error means the message was not sent (the peer is gone). The
// replica is told of link changes through PeerUp and PeerDown.
type Transport interface {
	Send(peer string, m *Message) error
	// Peers returns the NodeIds of the connected peers.
	Peers() []string
}
