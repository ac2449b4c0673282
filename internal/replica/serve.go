package replica

import (
	"fmt"
	"slices"
	"time"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/opauth"
)

// serve answers a PullSince: every op the peer lacks from the op log, or a
// snapshot when the log no longer holds them.
func (r *Replica) serve(peer string, theirs map[string]uint64) error {
	r.mu.Lock()
	a := r.budget[peer]
	if a == nil {
		a = &allowance{tokens: float64(r.cfg.ServeRate), at: time.Now()}
		r.budget[peer] = a
	}
	ok := a.refill(float64(r.cfg.ServeRate))
	r.mu.Unlock()
	if !ok {
		r.stats.pullsLimited.Add(1)
		r.log.Debug("pull not answered: the peer's answer budget is spent", "peer", peer, "rate", r.cfg.ServeRate)
		return nil
	}
	sent := 0
	defer func() {
		r.mu.Lock()
		a.tokens -= float64(sent)
		r.mu.Unlock()
	}()
	// Local ops go out only once durable: make everything written so far
	// durable before reading the log.
	if err := r.st.WaitDurable(r.ctx, r.st.WrittenSeq()); err != nil {
		return nil
	}
	r.mu.Lock()
	type span struct {
		origin   string
		from, to uint64
		head     *opauth.Head // proves from..to (with Auth)
	}
	var spans []span
	snapshot := false
	for o := range r.state.VV {
		have, their := r.provable(o), theirs[o]
		if have <= their {
			continue
		}
		if start := r.logStart[o]; start == 0 || start > their+1 {
			snapshot = true
			break
		}
		spans = append(spans, span{o, their + 1, have, nil})
	}
	if r.cfg.Auth != nil && !snapshot {
		for i := range spans {
			h, err := r.headFor(spans[i].origin)
			if err != nil {
				r.mu.Unlock()
				return err
			}
			spans[i].head = h
		}
	}
	if snapshot {
		msg := &Message{Kind: Snapshot, VV: copyVV(r.state.VV), Objects: map[crdt.ObjKey][]byte{}}
		if r.cfg.Auth != nil {
			for o, s := range msg.VV {
				h, err := r.headFor(o)
				if err != nil || s == 0 || h == nil || h.Seq != s {
					r.mu.Unlock()
					r.log.Warn("no snapshot sent: this node cannot prove every origin's entry (a datastore written before ops were signed catches up first)",
						"peer", peer, "origin", o, "err", err)
					return nil
				}
				msg.Heads = append(msg.Heads, h)
			}
			msg.Certs = r.certsFor(peer, msg.Heads)
		}
		for _, k := range r.state.Keys() {
			obj := r.state.Peek(k)
			if obj == nil {
				continue
			}
			msg.Objects[k] = obj.AppendBinary(nil)
			sent += len(k.Key) + len(msg.Objects[k])
		}
		r.mu.Unlock()
		r.stats.snapshotsSent.Add(1)
		r.log.Info("sending snapshot: op log no longer holds what the peer lacks", "peer", peer, "objects", len(msg.Objects))
		return r.cfg.Transport.Send(peer, msg)
	}
	r.mu.Unlock()
	slices.SortFunc(spans, func(a, b span) int {
		if a.origin < b.origin {
			return -1
		}
		return 1
	})
	var batch []*crdt.Op
	var heads []*opauth.Head
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		msg := &Message{Kind: PushOps, Ops: batch, Heads: heads, Answer: true}
		if len(heads) > 0 {
			r.mu.Lock()
			msg.Certs = r.certsFor(peer, heads)
			r.mu.Unlock()
		}
		err := r.cfg.Transport.Send(peer, msg)
		batch, heads = nil, nil
		return err
	}
	for _, s := range spans {
		var failed error
		err := r.st.ReadLog(s.origin, s.from, s.to, func(seq uint64, v []byte) bool {
			op, head, err := DecodeLogValue(v)
			if err != nil {
				failed = &CorruptError{What: "op log", Key: logKey(s.origin, seq), Err: err}
				return false
			}
			sent += len(v)
			batch = append(batch, op)
			if seq == s.to && s.head != nil {
				head = s.head
			}
			if head != nil && r.cfg.Auth != nil {
				heads = append(heads, head)
			}
			// A batch closes at a head once it holds BatchSize ops (the
			// receiver proves each unit as it arrives and keeps little
			// waiting), or at eight times that without one.
			if len(batch) >= 8*r.cfg.BatchSize || len(batch) >= r.cfg.BatchSize && (head != nil || r.cfg.Auth == nil) {
				if failed = flush(); failed != nil {
					return false
				}
			}
			return true
		})
		if failed != nil {
			return failed
		}
		if err != nil {
			return fmt.Errorf("replica: read op log: %w", err)
		}
	}
	return flush()
}

// allowance is a peer's token bucket for pull answers, in bytes; it may go
// negative (an answer is charged after it is sent) and then refuses until
// refilled.
type allowance struct {
	tokens float64
	at     time.Time
}

// refill adds rate bytes per second since the last refill (capped at one
// second's worth) and reports whether an answer may go out.
func (a *allowance) refill(rate float64) bool {
	now := time.Now()
	a.tokens = min(a.tokens+now.Sub(a.at).Seconds()*rate, rate)
	a.at = now
	return a.tokens > 0
}
