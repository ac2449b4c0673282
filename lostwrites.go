package numax

import (
	"fmt"

	"github.com/numax/numax/internal/replica"
)

// lostWrites decides how a node whose datastore lost acknowledged writes
// starts (issue: a node must never reuse a sequence number peers hold).
// Without sync there are none to reuse. With --accept-data-loss it starts
// under a new NodeId. Otherwise it starts and its replica refuses local
// writes until a peer has given its ops back.
func (n *Node) lostWrites(lost, configuredID string, adopt bool) (string, bool, error) {
	netw := n.cfg.Network
	switch {
	case netw.Listen == "":
		n.log.Warn("the datastore lost acknowledged writes; without sync no sequence number can be reused", "damage", lost)
		return configuredID, adopt, n.store.ClearLostWrites()
	case netw.AcceptDataLoss:
		old, err := replica.StoredNodeID(n.store)
		if err != nil {
			return "", false, err
		}
		if configuredID == "" {
			configuredID = replica.NewNodeID()
		} else if configuredID == old {
			return "", false, fmt.Errorf("--accept-data-loss: the datastore lost writes of NodeId %s, and this certificate is that NodeId: "+
				"make a new node certificate (nx cert node NAME) so that the new ops cannot be mistaken for the lost ones", old)
		}
		n.log.Warn("accepting data loss: the node continues under a new NodeId; the lost ops of the old one are gone",
			"old", old, "node", configuredID, "damage", lost)
		return configuredID, true, n.store.ClearLostWrites()
	}
	n.log.Error("this datastore lost acknowledged writes: local CRDT writes wait until a peer gives this node's ops back; "+
		"with no peer reachable, start it with --accept-data-loss (a new NodeId; with TLS, a new certificate from nx cert node)",
		"damage", lost)
	return configuredID, adopt, nil
}
