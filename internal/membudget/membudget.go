// Package membudget keeps a node's memory near its budget
// ([limits] memory_budget): it sets the Go runtime's soft memory limit to
// the budget minus what the runtime does not manage (the executable's
// pages and the guests' compiled code, Reserve), so the collector runs
// before garbage takes the node past the budget. The budget bounds garbage,
// not data: when the live heap alone comes near the limit (a node holding
// more than the budget), a limit would only make the collector run without
// pause, so the limit is lifted (the collector paces by GOGC alone) and a
// warning says the budget is exceeded; it comes back when the live heap
// falls to half the limit.
package membudget

import (
	"log/slog"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// Reserve is the resident memory the Go runtime does not manage, measured
// on linux/amd64 with the writer guest under load (nx bench sync-3): about
// 21 MB of the executable's pages and 10 MB of compiled guest code and
// runtime mappings.
const Reserve = 32 << 20

// Min is the smallest budget accepted: below it the limit leaves the
// collector too little room.
const Min = 64 << 20

// Budget applies a memory budget until Close.
type Budget struct {
	limit  int64
	log    *slog.Logger
	prev   int64
	closed atomic.Bool
	mu     sync.Mutex // orders checks and Close
	lifted bool
	sample []metrics.Sample
}

// Start sets the Go runtime's soft memory limit for budget bytes (0: no
// budget; GOMEMLIMIT set in the environment wins) and, after every
// garbage collection, compares the live heap with it. Close restores the
// previous limit.
func Start(budget int64, log *slog.Logger) *Budget {
	b := &Budget{log: log}
	if budget <= 0 || os.Getenv("GOMEMLIMIT") != "" {
		b.closed.Store(true)
		return b
	}
	b.limit = max(budget-Reserve, Min-Reserve)
	b.sample = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	b.prev = debug.SetMemoryLimit(b.limit)
	log.Debug("memory budget", "budget_bytes", budget, "go_limit_bytes", b.limit)
	b.arm()
	return b
}

// Limit returns the soft limit in force (0 when there is no budget).
func (b *Budget) Limit() int64 { return b.limit }

// gcSentinel is garbage as soon as it is made: its finalizer runs after
// the next collection, checks, and makes the next one.
type gcSentinel struct{ b *Budget }

func (b *Budget) arm() {
	runtime.SetFinalizer(&gcSentinel{b}, func(s *gcSentinel) {
		if s.b.check() {
			s.b.arm()
		}
	})
}

// check compares the live heap after a collection with the limit: live
// data past three quarters of it lifts the limit, and once it falls to
// half the limit comes back. It reports false once the budget is closed.
func (b *Budget) check() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return false
	}
	metrics.Read(b.sample)
	if b.sample[0].Value.Kind() != metrics.KindUint64 {
		return true
	}
	live := int64(b.sample[0].Value.Uint64())
	switch {
	case !b.lifted && live > b.limit*3/4:
		b.lifted = true
		debug.SetMemoryLimit(math.MaxInt64)
		b.log.Warn("memory_budget exceeded by live data: the node holds more than its budget allows for, so the budget no longer steers the garbage collector",
			"live_bytes", live, "go_limit_bytes", b.limit)
	case b.lifted && live < b.limit/2:
		b.lifted = false
		debug.SetMemoryLimit(b.limit)
		b.log.Info("memory back within memory_budget", "live_bytes", live, "go_limit_bytes", b.limit)
	}
	return true
}

// Close stops watching and restores the limit in force before Start. It
// is idempotent.
func (b *Budget) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed.Swap(true) {
		debug.SetMemoryLimit(b.prev)
	}
}
