package engine

import (
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// limitAllocator backs guest memories and refuses to grow one past limit,
// recording the refusal. wazero's own page limit is left at the wasm32
// maximum so that wazero asks the allocator rather than refusing silently;
// that is how a failed memory.grow becomes a MemoryLimitError with a reason.
type limitAllocator struct {
	limit     uint64
	refusedTo atomic.Uint64 // largest size refused, 0 if none
}

func (a *limitAllocator) Allocate(capacity, max uint64) experimental.LinearMemory {
	// Where the platform can, the whole limit is reserved as address space
	// at once (reserve): pages become resident only when the guest touches
	// them, and growing never copies, so a guest costs the node about its
	// own size, not the old and new copies of a growing buffer.
	if buf, release, ok := reserve(a.limit); ok {
		return &limitMemory{a: a, buf: buf[:0], release: release}
	}
	return &limitMemory{a: a, buf: make([]byte, 0, min(capacity, a.limit))}
}

const pageSize = 65536

type limitMemory struct {
	a       *limitAllocator
	buf     []byte
	started bool
	// release unmaps a reserved buffer (nil for a Go-allocated one).
	release func()
}

func (a *limitAllocator) refuse(size uint64) {
	for {
		cur := a.refusedTo.Load()
		if size <= cur || a.refusedTo.CompareAndSwap(cur, size) {
			return
		}
	}
}

func (m *limitMemory) Reallocate(size uint64) []byte {
	first := !m.started
	m.started = true
	if size > m.a.limit {
		m.a.refuse(size)
		// wazero cannot take a nil for the initial allocation. Compile
		// refuses declared minimums over the cap, so this is a backstop:
		// Run sees the refusal and does not start the guest.
		if !first {
			return nil
		}
	}
	if size <= uint64(cap(m.buf)) {
		// Growing within capacity: the bytes past len were zeroed by make
		// and never written, as wasm requires for new pages.
		m.buf = m.buf[:size]
		return m.buf
	}
	newCap := max(min(max(size, 2*uint64(cap(m.buf))), m.a.limit), size)
	nb := make([]byte, size, newCap)
	copy(nb, m.buf)
	m.buf = nb
	return m.buf
}

func (m *limitMemory) Free() {
	m.buf = nil
	if m.release != nil {
		m.release()
		m.release = nil
	}
}
