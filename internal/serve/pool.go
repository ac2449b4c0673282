package serve

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/numax/numax/internal/engine"
)

// errQueueFull is returned by acquire when the request queue is full.
var errQueueFull = errors.New("serve: request queue full")

// pool keeps up to size instances of the module. One instance runs one
// handler at a time; a broken instance is closed and its slot refilled by
// the next acquire.
type pool struct {
	make func(ctx context.Context, n int) (*engine.Instance, error)
	size int
	// queue bounds the requests waiting for an instance.
	queue int

	idle chan *engine.Instance
	// freed wakes a waiter when a broken instance gives up its slot, so
	// that it makes a new one.
	freed   chan struct{}
	waiting atomic.Int64
	busy    atomic.Int64

	// mu guards made, serial and closed.
	mu     sync.Mutex
	made   int
	serial int
	closed bool
}

func newPool(size, queue int, mk func(ctx context.Context, n int) (*engine.Instance, error)) *pool {
	return &pool{make: mk, size: size, queue: queue, idle: make(chan *engine.Instance, size), freed: make(chan struct{}, size)}
}

// grow makes one instance if a slot is free; nil, nil when none is.
func (p *pool) grow(ctx context.Context) (*engine.Instance, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errClosed
	}
	if p.made >= p.size {
		p.mu.Unlock()
		return nil, nil
	}
	p.made++
	p.serial++
	n := p.serial
	p.mu.Unlock()
	inst, err := p.make(ctx, n)
	if err != nil {
		p.mu.Lock()
		p.made--
		p.mu.Unlock()
		return nil, fmt.Errorf("instantiate: %w", err)
	}
	return inst, nil
}

// fill makes instances until every slot is taken, leaving them idle.
func (p *pool) fill(ctx context.Context) error {
	for {
		inst, err := p.grow(ctx)
		if err != nil || inst == nil {
			return err
		}
		p.idle <- inst
	}
}

// acquire returns an idle instance, making one if a slot is free, else
// waits for one. With bounded set, more than queue waiters is errQueueFull.
func (p *pool) acquire(ctx context.Context, bounded bool) (*engine.Instance, error) {
	for {
		select {
		case inst := <-p.idle:
			p.busy.Add(1)
			return inst, nil
		default:
		}
		inst, err := p.grow(ctx)
		if err != nil {
			return nil, err
		}
		if inst != nil {
			p.busy.Add(1)
			return inst, nil
		}
		if n := p.waiting.Add(1); bounded && n > int64(p.queue) {
			p.waiting.Add(-1)
			return nil, errQueueFull
		}
		select {
		case inst := <-p.idle:
			p.waiting.Add(-1)
			p.busy.Add(1)
			return inst, nil
		case <-ctx.Done():
			p.waiting.Add(-1)
			return nil, ctx.Err()
		case <-p.freed:
			// A broken instance gave up its slot: try to make one.
			p.waiting.Add(-1)
		}
	}
}

// release returns inst; a broken one is closed and its slot freed.
func (p *pool) release(ctx context.Context, inst *engine.Instance, broken bool) {
	p.busy.Add(-1)
	p.mu.Lock()
	closed := p.closed
	if broken || closed {
		p.made--
	}
	p.mu.Unlock()
	if broken || closed {
		_ = inst.Close(ctx)
		select {
		case p.freed <- struct{}{}:
		default:
		}
		return
	}
	p.idle <- inst
}

// close closes the idle instances; busy ones are closed on release.
func (p *pool) close(ctx context.Context) {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	for {
		select {
		case inst := <-p.idle:
			p.mu.Lock()
			p.made--
			p.mu.Unlock()
			_ = inst.Close(ctx)
		default:
			return
		}
	}
}
