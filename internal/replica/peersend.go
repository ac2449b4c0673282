package replica

import (
	"context"
	"time"

	"github.com/numax/numax/internal/opauth"
)

// Pushes go out through one goroutine per peer, each with its own bounded
// queue, so a peer that stops reading holds back only its own pushes: the
// send loop never waits on a link. A push that finds its peer's queue full
// is dropped for that peer (it takes what it missed by pulling when it sees
// the gap, or at anti-entropy); nothing of it was noted as carried. A
// push is tagged with its link's epoch (linkReset moves it): one made for a
// link since replaced is dropped, as it was built on what the old link
// carried (certificates).

// peerQueueLen bounds the pushes waiting for one peer.
const peerQueueLen = 128

type pushItem struct {
	m     *Message
	epoch uint64
}

type peerSender struct {
	ch chan pushItem
}

// sender returns peer's sender, started if need be; nil once closing.
func (r *Replica) sender(peer string) *peerSender {
	r.spawnMu.Lock()
	defer r.spawnMu.Unlock()
	if r.stopping {
		return nil
	}
	if ps := r.senders[peer]; ps != nil {
		return ps
	}
	ps := &peerSender{ch: make(chan pushItem, peerQueueLen)}
	r.senders[peer] = ps
	r.wg.Add(1)
	go r.peerSendLoop(peer, ps)
	return ps
}

func (r *Replica) peerSendLoop(peer string, ps *peerSender) {
	defer r.wg.Done()
	for {
		select {
		case it := <-ps.ch:
			r.mu.Lock()
			stale := it.epoch != r.linkEpoch[peer]
			r.mu.Unlock()
			if !stale {
				if err := r.cfg.Transport.Send(peer, it.m); err != nil {
					r.log.Debug("push failed; anti-entropy will cover it", "peer", peer, "err", err)
				}
			}
			r.inflight.Add(-1)
		case <-r.ctx.Done():
			return
		}
	}
}

// push queues m for peer, built by build under r.mu (which notes what the
// link carries, so it runs only when the push will be queued); it reports
// whether m was queued.
func (r *Replica) push(peer string, build func() *Message) bool {
	ps := r.sender(peer)
	if ps == nil || len(ps.ch) == cap(ps.ch) {
		r.stats.pushesDropped.Add(1)
		return false
	}
	r.mu.Lock()
	m := build()
	epoch := r.linkEpoch[peer]
	if m == nil {
		r.mu.Unlock()
		return false
	}
	r.inflight.Add(1)
	select {
	case ps.ch <- pushItem{m, epoch}:
		r.mu.Unlock()
		return true
	default:
		// Filled meanwhile (the relay loop pushes too): not carried.
		r.inflight.Add(-1)
		r.forgetCarried(peer, m.Heads)
		r.mu.Unlock()
		r.stats.pushesDropped.Add(1)
		return false
	}
}

// forgetCarried un-notes the certificates of heads as carried by peer's
// link (a push that did not go). r.mu must be held.
func (r *Replica) forgetCarried(peer string, heads []*opauth.Head) {
	if sent := r.certsSent[peer]; sent != nil {
		for _, h := range heads {
			delete(sent, h.Origin)
		}
	}
}

// waitPushed waits until every queued push went out (or failed), or ctx
// ends: a closing node sends what it queued.
func (r *Replica) waitPushed(ctx context.Context) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for r.inflight.Load() > 0 {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}
