package replica

import (
	"math/rand/v2"
	"time"

	"github.com/numax/numax/internal/crdt"
)

// sendLoop batches queued ops (up to BatchSize, waiting at most BatchDelay
// for more), waits until the store has fsynced every op in the batch, and
// pushes it to every connected peer except the one each op came from.
func (r *Replica) sendLoop() {
	defer r.wg.Done()
	for {
		batch, wait := r.q.take(r.cfg.BatchSize)
		if batch == nil {
			select {
			case <-wait:
				continue
			case <-r.ctx.Done():
				return
			}
		}
		if len(batch) < r.cfg.BatchSize {
			// A short batch: give writers one BatchDelay to fill it.
			t := time.NewTimer(r.cfg.BatchDelay)
			select {
			case <-t.C:
			case <-r.ctx.Done():
			}
			t.Stop()
			more, _ := r.q.take(r.cfg.BatchSize - len(batch))
			batch = append(batch, more...)
		}
		var maxSeq uint64
		for _, it := range batch {
			maxSeq = max(maxSeq, it.seq)
		}
		// An op leaves this node only once it is durable here. Rather than
		// wait for the interval's fsync, make it durable now: one fsync
		// covers the whole batch (group commit), and replication lag stays
		// near one fsync instead of up to a whole sync interval.
		if r.st.DurableSeq() < maxSeq {
			if err := r.st.Sync(); err != nil && r.ctx.Err() == nil {
				r.log.Error("outbound batch not sent: fsync failed", "err", err)
				return
			}
		}
		if err := r.st.WaitDurable(r.ctx, maxSeq); err != nil {
			if r.ctx.Err() == nil {
				r.log.Error("outbound batch not sent: store not durable", "err", err)
			}
			return
		}
		r.broadcast(batch)
	}
}

// broadcast pushes a batch to every connected peer or, with Fanout, to K
// of them chosen at random; a peer is skipped (and the next one tried) when
// every op of the batch came from it.
func (r *Replica) broadcast(batch []item) {
	peers := r.cfg.Transport.Peers()
	k := len(peers)
	if r.cfg.Fanout != nil {
		k = min(max(r.cfg.Fanout(len(peers)), 1), len(peers))
		rand.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
	}
	sent := 0
	for _, peer := range peers {
		if sent == k {
			break
		}
		ops := make([]*crdt.Op, 0, len(batch))
		for _, it := range batch {
			if it.from != peer {
				ops = append(ops, it.op)
			}
		}
		if len(ops) == 0 {
			continue
		}
		if err := r.cfg.Transport.Send(peer, &Message{Kind: PushOps, Ops: ops}); err != nil {
			r.log.Debug("push failed; anti-entropy will cover it", "peer", peer, "err", err)
			continue
		}
		sent++
		r.stats.batches.Add(1)
		r.stats.opsSent.Add(uint64(len(ops)))
	}
}

// pullRandom asks one random connected peer for what this node lacks.
func (r *Replica) pullRandom() {
	if peers := r.cfg.Transport.Peers(); len(peers) > 0 {
		r.pull(peers[rand.IntN(len(peers))])
	}
}

// every runs f every d until the replica closes.
func (r *Replica) every(d time.Duration, f func()) {
	defer r.wg.Done()
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			f()
		case <-r.ctx.Done():
			return
		}
	}
}

// AntiEntropy asks every connected peer for what this node lacks and prunes
// the op log. It runs every AntiEntropyInterval and on PeerUp.
func (r *Replica) AntiEntropy() {
	if r.cfg.Transport == nil {
		return
	}
	for _, p := range r.cfg.Transport.Peers() {
		r.pull(p)
	}
	r.prune()
}

// PeerUp tells the replica a peer connected: it pulls what it lacks at once.
func (r *Replica) PeerUp(peer string) {
	if r.cfg.Transport != nil && !r.closed.Load() {
		r.pull(peer)
	}
}

func (r *Replica) pull(peer string) {
	if err := r.cfg.Transport.Send(peer, &Message{Kind: PullSince, VV: r.VV()}); err != nil {
		r.log.Debug("pull failed", "peer", peer, "err", err)
	}
}
