package serve

// Type is a replicated data type, as the changes list names it.
type Type byte

// The types of docs/serving.md's changes list.
const (
	GCounter    Type = 1
	PNCounter   Type = 2
	LWWRegister Type = 3
	LWWMap      Type = 4
	ORSet       Type = 5
	RGA         Type = 6
	Text        Type = 7
)

// Change is one changed object.
type Change struct {
	Type Type
	Key  string
}

// PeerEvent is a peer link coming up (Up) or going down.
type PeerEvent struct {
	Up     bool
	NodeID string
	Addr   string
}
