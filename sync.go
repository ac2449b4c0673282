package numax

import (
	"errors"
	"sync/atomic"

	"github.com/numax/numax/internal/abi"
	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/discovery"
	"github.com/numax/numax/internal/replica"
	"github.com/numax/numax/internal/transport"
)

// Type names a replicated data type (docs/crdt.md), for Format.
type Type int

// The replicated data types (their values are the internal ones;
// TestTypesMatchInternal).
const (
	GCounter Type = 1 + iota
	PNCounter
	LWWRegister
	LWWMap
	ORSet
	RGA
	Text
)

// String is the type's name as nx inspect prints it ("gcounter", ...).
func (t Type) String() string { return crdt.Type(t).String() }

// Format renders the object (t, key) as `nx run --print-*` prints it, e.g.
// "visits = 3"; an object never written prints its empty value. It fails on
// a node without sync.
func (n *Node) Format(t Type, key string) (string, error) {
	if n.replica == nil {
		return "", errors.New("numax: sync is disabled")
	}
	if t < GCounter || t > Text {
		return "", errors.New("numax: unknown CRDT type")
	}
	var s string
	n.replica.Read(crdt.ObjKey{Type: crdt.Type(t), Key: key}, func(o crdt.Object) { s = crdt.Format(crdt.Type(t), key, o) })
	return s, nil
}

// lateLink is the replica's transport, set once the transport exists (the
// transport needs the replica's version vector first), and the discovery
// that sizes its fanout, set once discovery has started.
type lateLink struct {
	t    atomic.Pointer[transport.Transport]
	disc atomic.Pointer[discovery.Discovery]
}

func (l *lateLink) Send(peer string, m *replica.Message) error {
	if t := l.t.Load(); t != nil {
		return t.Send(peer, m)
	}
	return errors.New("numax: network not started")
}

func (l *lateLink) Peers() []string {
	if t := l.t.Load(); t != nil {
		return t.Peers()
	}
	return nil
}

// syncHost adapts a replica and its links to the host API's Sync.
type syncHost struct {
	*replica.Replica
	link *lateLink
}

func (s syncHost) Peers() []abi.Peer {
	if t := s.link.t.Load(); t != nil {
		return t.PeerInfo()
	}
	return []abi.Peer{}
}
