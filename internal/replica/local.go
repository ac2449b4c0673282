package replica

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/opauth"
	"github.com/numax/numax/internal/store"
)

// Write applies a local op: it fills in Origin, Seq and HLC (and, for an
// ORSet remove, the observed tags), applies it, writes state + op log +
// vector in one atomic batch, and queues it for peers (who receive it once
// it is durable). accept, if set, sees the op's id before anything changes
// and may refuse it (ErrRejected).
//
// Errors: ErrBackpressure (queue full), ErrNoop (ORSet remove of an unseen
// element: nothing emitted), ErrNotFound (unknown RGA parent or element),
// ErrRejected, ErrClosed, or a store failure.
func (r *Replica) Write(ctx context.Context, op *crdt.Op, accept func(crdt.OpID) bool) (crdt.OpID, error) {
	if r.closed.Load() {
		return crdt.OpID{}, ErrClosed
	}
	id, over, err := r.write(op, accept)
	if err == nil {
		if r.cfg.OnChanged != nil {
			k := changedKeys.Get().(*[1]crdt.ObjKey)
			k[0] = op.Obj()
			r.cfg.OnChanged(k[:])
			k[0] = crdt.ObjKey{}
			changedKeys.Put(k)
		}
		if over {
			r.prune(false) // past op_log_limit: at once, not at the next round
		}
	}
	return id, err
}

// changedKeys holds the one-key arrays Write reports a change with
// (OnChanged keeps nothing of its argument).
var changedKeys = sync.Pool{New: func() any { return new([1]crdt.ObjKey) }}

// write applies op under r.mu; over reports a log past op_log_limit.
func (r *Replica) write(op *crdt.Op, accept func(crdt.OpID) bool) (_ crdt.OpID, over bool, _ error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed != nil {
		return crdt.OpID{}, false, r.failed
	}
	if r.recovering {
		return crdt.OpID{}, false, ErrRecovering
	}
	// Asked before memory changes: a degraded store (a full disk) refuses
	// the write with nothing changed, and writes resume when it clears.
	if err := r.st.CheckWritable(); err != nil {
		return crdt.OpID{}, false, err
	}
	if r.cfg.Transport != nil && r.q.len() >= r.cfg.QueueLimit {
		r.log.Warn("local CRDT write refused: outbound queue full", "limit", r.cfg.QueueLimit, "key", op.Key)
		return crdt.OpID{}, false, ErrBackpressure
	}
	k := op.Obj()
	if v := r.deferrable(k, op); v != nil {
		if id, over, err, ok := r.writeView(k, v, op, accept); ok {
			return id, over, err
		}
	}
	switch op.Kind {
	case crdt.ORSetRemove:
		s, _ := r.state.Get(k).(*crdt.ORSet)
		if s == nil {
			return crdt.OpID{}, false, ErrNoop
		}
		op.Tags = s.Observed(op.Field)
		if len(op.Tags) == 0 {
			return crdt.OpID{}, false, ErrNoop
		}
	case crdt.RGAInsert, crdt.RGADelete:
		if !op.Ref.IsZero() {
			l, _ := r.state.Get(k).(*crdt.RGA)
			if l == nil || !l.Has(op.Ref) {
				return crdt.OpID{}, false, ErrNotFound
			}
			if op.Kind == crdt.RGAInsert {
				// After a deleted element: after the visible one before it
				// (the same visible place), so that no op names a deleted
				// element and it can be collected.
				ref, ok := l.VisibleBefore(op.Ref)
				if !ok {
					return crdt.OpID{}, false, fmt.Errorf("%w: element %s is deleted and its place is not known yet", ErrNotFound, op.Ref)
				}
				op.Ref = ref
			}
		}
	case crdt.TextInsert, crdt.TextDelete:
		if err := resolveText(r.state, op); err != nil {
			return crdt.OpID{}, false, err
		}
	}
	if err := r.stamp(op, accept); err != nil {
		return crdt.OpID{}, false, err
	}
	r.state.Deliver(op)
	b := r.st.NewBatch()
	chain := r.persistOwn(b, op)
	r.persist(b, nil, []*crdt.Op{op}, nil)
	return r.commitOwn(b, op, chain)
}

// stamp gives a local op its origin, seq and timestamp, once accept (if
// set) has seen its id, and validates it (r.mu held).
func (r *Replica) stamp(op *crdt.Op, accept func(crdt.OpID) bool) error {
	op.Origin = r.nodeID
	if r.state.VV[r.nodeID] == math.MaxUint64 {
		return ErrExhausted
	}
	if r.clock.Last() >= math.MaxUint64-1 {
		return ErrExhausted
	}
	op.Seq = r.state.VV[r.nodeID] + 1
	if accept != nil && !accept(op.ID()) {
		return ErrRejected
	}
	op.HLC = r.clock.Next()
	return op.Validate()
}

// persistOwn moves this node's chain past its own op op (when ops are
// signed) and adds the head to b; it returns the chain (r.mu held).
func (r *Replica) persistOwn(b *store.Batch, op *crdt.Op) opauth.Hash {
	if r.cfg.Auth == nil {
		return opauth.Hash{}
	}
	// The chain moves in memory before the commit: a failed commit stops
	// the replica (failed) and a restart reads the stored head.
	chain := r.chainer.Next(r.frontier(r.nodeID).Chain, op)
	r.heads[r.nodeID] = opauth.Head{Origin: r.nodeID, Seq: op.Seq, Chain: chain}
	r.persistHeads(b, r.nodeID)
	return chain
}

// commitOwn commits b, which holds local op op, and queues op for the
// peers (r.mu held); over reports a log past op_log_limit.
func (r *Replica) commitOwn(b *store.Batch, op *crdt.Op, chain opauth.Hash) (crdt.OpID, bool, error) {
	n, err := r.commit(b)
	if err != nil {
		return crdt.OpID{}, false, err
	}
	r.logCount++
	r.stats.localOps.Add(1)
	if r.cfg.Transport != nil {
		r.q.push([]item{{op: op, seq: n, chain: chain}})
	}
	return op.ID(), r.logCount > r.cfg.OpLogLimit, nil
}

// resolveText turns a local Text edit's position (op.At) into ids: an
// insert's parent character, a delete's ranges (at most
// crdt.MaxTextRanges: At.Count becomes what they cover, and the caller
// writes the rest as further ops). A position past the end is ErrRange.
func resolveText(st *crdt.State, op *crdt.Op) error {
	if op.At == nil {
		return nil // a caller that named the ids itself
	}
	t, _ := st.Get(op.Obj()).(*crdt.Text)
	if op.Kind == crdt.TextInsert {
		parent, err := t.ResolveInsert(op.At.Index)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrRange, err)
		}
		op.Ref, op.Delta = parent.Run, parent.Off
		return nil
	}
	ranges, covered, err := t.ResolveDelete(op.At.Index, op.At.Count)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRange, err)
	}
	if covered == 0 {
		return ErrNoop
	}
	op.SetTextRanges(ranges)
	op.At.Count = covered
	return nil
}
