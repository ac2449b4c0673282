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
// The items are buf[head:]; taking advances head, and the array is reused
// once it empties or its taken front passes half of it.
type queue struct {
	// mu guards buf, head, notify and watched.
	mu   sync.Mutex
	buf  []item
	head int
	// notify is closed and replaced when items are added or taken, or on
	// wake, if it was handed out since it was made (watched): most pushes
	// and takes find nobody waiting, and make no channel.
	notify  chan struct{}
	watched bool
	// spare is a taken batch given back (recycle), for the next take.
	spare []item
}

func newQueue() *queue { return &queue{notify: make(chan struct{})} }

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.buf) - q.head
}

func (q *queue) push(items []item) {
	q.mu.Lock()
	q.buf = append(q.buf, items...)
	q.signal()
	q.mu.Unlock()
}

func (q *queue) wake() {
	q.mu.Lock()
	q.signal()
	q.mu.Unlock()
}

// signal wakes whoever waits on notify; q.mu held.
func (q *queue) signal() {
	if q.watched {
		close(q.notify)
		q.notify, q.watched = make(chan struct{}), false
	}
}

// watch returns the channel to wait on; q.mu held.
func (q *queue) watch() <-chan struct{} {
	q.watched = true
	return q.notify
}

// take removes up to n items; with none it returns the channel to wait on.
func (q *queue) take(n int) ([]item, <-chan struct{}) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.buf) == q.head {
		return nil, q.watch()
	}
	return q.pop(min(n, len(q.buf)-q.head)), nil
}

// pop removes the first n items (n <= len) and wakes waiters; q.mu held.
func (q *queue) pop(n int) []item {
	out := q.spare
	q.spare = nil
	if cap(out) < n {
		out = make([]item, n)
	}
	out = out[:n]
	copy(out, q.buf[q.head:])
	clear(q.buf[q.head : q.head+n]) // the ops go with out
	q.head += n
	switch {
	case q.head == len(q.buf):
		q.buf, q.head = q.buf[:0], 0
	case q.head >= 1024 && q.head > len(q.buf)/2:
		m := copy(q.buf, q.buf[q.head:])
		clear(q.buf[m:])
		q.buf, q.head = q.buf[:m], 0
	}
	q.signal() // waitEmpty watches for emptiness
	return out
}

// recycle gives back a batch take or takeDue returned, once nothing holds
// it: the next take fills it instead of a new one.
func (q *queue) recycle(batch []item) {
	clear(batch) // the ops go
	q.mu.Lock()
	if cap(batch) > cap(q.spare) {
		q.spare = batch[:0]
	}
	q.mu.Unlock()
}

// takeDue removes up to n items queued at or before cutoff (items are in
// queue order, so it stops at the first younger one), and more if the n-th
// is inside a unit (cont): up to the unit's end. With none due it
// returns the channel to wait on and when the oldest item was queued (zero
// if the queue is empty).
func (q *queue) takeDue(n int, cutoff time.Time) ([]item, <-chan struct{}, time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.buf[q.head:]
	due := 0
	for due < len(items) && (due < n || items[due-1].cont) && !items[due].at.After(cutoff) {
		due++
	}
	if due == 0 {
		var oldest time.Time
		if len(items) > 0 {
			oldest = items[0].at
		}
		return nil, q.watch(), oldest
	}
	return q.pop(due), nil, time.Time{}
}

// waitEmpty blocks until the queue is empty or ctx ends.
func (q *queue) waitEmpty(ctx context.Context) {
	for {
		q.mu.Lock()
		empty, ch := len(q.buf) == q.head, q.watch()
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
