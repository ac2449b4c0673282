package numax

import (
	"errors"
	"runtime/debug"
	"time"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/status"
)

// nodeStatus is what the node status page reads (package status). The
// page is up before the node's parts are: every part may still be nil.
type nodeStatus struct{ n *Node }

func (s nodeStatus) Node() status.Node {
	n := s.n
	out := status.Node{NodeID: n.nodeID, Version: version(), Uptime: time.Since(n.started).Seconds(),
		Peers: []status.Peer{}, VV: map[string]uint64{}, Discovery: status.Discovery{Mode: "off"}}
	if n.replica == nil {
		return out
	}
	out.Sync = true
	out.VV = n.replica.VV()
	lag := n.replica.PeerLag()
	if n.net != nil {
		connected := map[string]bool{}
		for _, p := range n.net.PeerInfo() {
			connected[p.Addr] = true
			out.Peers = append(out.Peers, status.Peer{NodeID: p.NodeID, Addr: p.Addr, Health: "connected", Lag: lag[p.NodeID]})
		}
		for addr, h := range n.net.HealthOf() {
			if !connected[addr] {
				out.Peers = append(out.Peers, status.Peer{Addr: addr, Health: h.String()})
			}
		}
	}
	if n.disc != nil {
		out.Discovery = status.Discovery{Mode: n.disc.Mode(), Members: n.disc.Members()}
	}
	return out
}

// errNoSync answers object queries of a node without sync.
var errNoSync = errors.New("sync is off on this node: it holds no replicated objects")

func (s nodeStatus) Keys(t, after string, limit int) ([]string, error) {
	typ, err := crdt.ParseType(t)
	if err != nil {
		return nil, err
	}
	if s.n.replica == nil {
		return nil, errNoSync
	}
	return s.n.replica.Keys(typ, after, limit), nil
}

func (s nodeStatus) Value(t, key string) (scalar string, items []string, coll, found bool, err error) {
	typ, err := crdt.ParseType(t)
	if err != nil {
		return "", nil, false, false, err
	}
	if s.n.replica == nil {
		return "", nil, false, false, errNoSync
	}
	s.n.replica.Read(crdt.ObjKey{Type: typ, Key: key}, func(o crdt.Object) {
		if o == nil {
			return
		}
		found = true
		scalar, items, coll = crdt.Items(typ, o)
	})
	return scalar, items, coll, found, nil
}

// version is the module version nx was built as ("(devel)" from a tree).
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.Main.Version
	}
	return ""
}
