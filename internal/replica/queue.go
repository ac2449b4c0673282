package replica

import (
	"context"
	"sync"
	"time"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/opauth"
)

// item is one op waiting to be sent: the store write that holds it (sent
// only once durable), the peer it came from (not sent back there) and, for
// a relay, when it was queued.
type item struct {
	op   *crdt.Op
	seq  uint64
	from string
	at   time.Time
	// chain is Chain(op.Seq) of this node's own ops (with Auth); head,
	// on the last op of a proved unit, is what proves it, and cont marks
	// the ops before it: a batch never ends inside a unit, so the head
	// goes out with the ops it covers.
	chain opauth.Hash
	head  *opauth.Head
	cont  bool
}

// queue is the outbound queue: a slice under a mutex with a wake-up channel.
type queue struct {
	// mu guards items and notify.
	mu     sync.Mutex
	items  []item
	notify chan struct{} // closed and replaced when items are added or on wake
}

func newQueue() *queue { return &queue{notify: make(chan struct{})} }

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

func (q *queue) push(items []item) {
	q.mu.Lock()
	q.items = append(q.items, items...)
	close(q.notify)
	q.notify = make(chan struct{})
	q.mu.Unlock()
}

func (q *queue) wake() {
	q.mu.Lock()
	close(q.notify)
	q.notify = make(chan struct{})
	q.mu.Unlock()
}

// take removes up to n items; with none it returns the channel to wait on.
func (q *queue) take(n int) ([]item, <-chan struct{}) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return nil, q.notify
	}
	return q.pop(min(n, len(q.items))), nil
}

// pop removes the first n items (n <= len) and wakes waiters; q.mu held.
func (q *queue) pop(n int) []item {
	out := make([]item, n)
	copy(out, q.items)
	if rest := len(q.items) - n; rest <= n {
		// Few left: move them to the front, so the array is reused (the
		// usual case, a batch that takes everything, moves nothing).
		copy(q.items, q.items[n:])
		clear(q.items[rest:])
		q.items = q.items[:rest]
	} else {
		q.items = q.items[n:]
	}
	q.notify2()
	return out
}

// takeDue removes up to n items queued at or before cutoff (items are in
// queue order, so it stops at the first younger one), and more if the n-th
// is inside a unit (cont): up to the unit's end. With none due it
// returns the channel to wait on and when the oldest item was queued (zero
// if the queue is empty).
func (q *queue) takeDue(n int, cutoff time.Time) ([]item, <-chan struct{}, time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	due := 0
	for due < len(q.items) && (due < n || q.items[due-1].cont) && !q.items[due].at.After(cutoff) {
		due++
	}
	if due == 0 {
		var oldest time.Time
		if len(q.items) > 0 {
			oldest = q.items[0].at
		}
		return nil, q.notify, oldest
	}
	return q.pop(due), nil, time.Time{}
}

// notify2 wakes waiters after a take (waitEmpty watches for emptiness).
func (q *queue) notify2() {
	close(q.notify)
	q.notify = make(chan struct{})
}

// waitEmpty blocks until the queue is empty or ctx ends.
func (q *queue) waitEmpty(ctx context.Context) {
	for {
		q.mu.Lock()
		empty, ch := len(q.items) == 0, q.notify
		q.mu.Unlock()
		if empty {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}
