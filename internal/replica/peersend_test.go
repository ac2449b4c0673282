package replica

import (
	"context"
	"errors"
	"maps"
	"sync/atomic"
	"testing"
	"time"

	"github.com/numax/numax/internal/crdt"
)

// stalledLink is a node's transport whose link to one peer stops taking
// messages until release: a peer that stopped reading, so Send blocks for
// the socket timeout (three seconds here) and fails, as the transport's does.
type stalledLink struct {
	Transport
	peer    string
	release chan struct{}
	blocked atomic.Int64
}

func (s *stalledLink) Send(peer string, m *Message) error {
	if peer == s.peer {
		select {
		case <-s.release:
		default:
			s.blocked.Add(1)
			select {
			case <-s.release:
			case <-time.After(3 * time.Second):
				return errors.New("peer too slow to read; link dropped")
			}
		}
	}
	return s.Transport.Send(peer, m)
}

// A peer that stops reading holds back only its own pushes: the origin
// keeps pushing to the others, which keep up with it while the stalled
// link still blocks, and the stalled peer catches up once released.
func TestPush_StalledPeerHoldsBackNoOther(t *testing.T) {
	net := NewMemNet(7)
	defer net.Close()
	ids := []string{NewNodeID(), NewNodeID(), NewNodeID()}
	stall := &stalledLink{Transport: net.Endpoint(ids[0]), peer: ids[1], release: make(chan struct{})}
	nodes := make([]*Replica, 3)
	var stores []interface{ Close() error }
	for i, id := range ids {
		st := openStore(t, t.TempDir())
		stores = append(stores, st)
		cfg := Config{NodeID: id, Store: st, Transport: net.Endpoint(id)}
		if i == 0 {
			cfg.Transport = stall
		}
		nodes[i] = openReplica(t, cfg)
		net.Attach(nodes[i])
	}
	released := false
	defer func() {
		if !released {
			close(stall.release)
		}
		for i, r := range nodes {
			r.Close(context.Background())
			stores[i].Close()
		}
	}()
	// Rounds of writes, each awaited on node 3: a send loop that waits
	// on the stalled link (three seconds a push) misses every round's
	// deadline; per-peer pushes make each round in milliseconds.
	const rounds, per = 5, 200
	n := uint64(0)
	for round := range rounds {
		for range per {
			writeBacking(t, nodes[0], &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1})
		}
		n += per
		deadline := time.Now().Add(2 * time.Second)
		for nodes[2].VV()[ids[0]] < n {
			if time.Now().After(deadline) {
				t.Fatalf("round %d, node 2's link stalled: node 3 holds %d of node 1's %d ops 2 s after the writes", round+1, nodes[2].VV()[ids[0]], n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if stall.blocked.Load() == 0 {
		t.Fatal("no push to the stalled peer was attempted: the test did not stall anything")
	}
	t.Logf("node 3 had each round's ops within 2 s while node 2's link was stalled; %d pushes dropped for it", nodes[0].Stats().PushesDropped)
	close(stall.release)
	released = true
	deadline := time.Now().Add(30 * time.Second)
	for !maps.Equal(nodes[1].VV(), nodes[0].VV()) {
		if time.Now().After(deadline) {
			t.Fatalf("released, node 2 holds %v, node 1 %v", nodes[1].VV(), nodes[0].VV())
		}
		for _, r := range nodes {
			r.AntiEntropy()
		}
		time.Sleep(20 * time.Millisecond)
	}
}
