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
	"context"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// Reserve is the resident memory the Go runtime does not manage, measured
// on linux/amd64 with the writer guest under load (nx bench sync-3): about
// 21 MB of the executable's pages and 10 MB of compiled guest code and
// runtime mappings.
const Reserve = 32 << 20

// Min is the smallest budget accepted: below it the limit leaves the
// collector too little room.
const Min = 64 << 20

// checkEvery is how often the live heap is compared with the limit.
var checkEvery = 2 * time.Second

// Budget applies a memory budget until Close.
type Budget struct {
	limit  int64
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	prev   int64
}

// Start sets the Go runtime's soft memory limit for budget bytes (0: no
// budget; GOMEMLIMIT set in the environment wins) and watches the live
// heap. Close restores the previous limit.
func Start(budget int64, log *slog.Logger) *Budget {
	b := &Budget{log: log, done: make(chan struct{})}
	if budget <= 0 || os.Getenv("GOMEMLIMIT") != "" {
		close(b.done)
		return b
	}
	b.limit = max(budget-Reserve, Min-Reserve)
	b.prev = debug.SetMemoryLimit(b.limit)
	log.Debug("memory budget", "budget_bytes", budget, "go_limit_bytes", b.limit)
	var ctx context.Context
	ctx, b.cancel = context.WithCancel(context.Background())
	go b.watch(ctx)
	return b
}

// Limit returns the soft limit in force (0 when there is no budget).
func (b *Budget) Limit() int64 { return b.limit }

func (b *Budget) watch(ctx context.Context) {
	defer close(b.done)
	t := time.NewTicker(checkEvery)
	defer t.Stop()
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	lifted := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			continue
		}
		live := int64(sample[0].Value.Uint64())
		switch {
		case !lifted && live > b.limit*3/4:
			lifted = true
			debug.SetMemoryLimit(math.MaxInt64)
			b.log.Warn("memory_budget exceeded by live data: the node holds more than its budget allows for, so the budget no longer steers the garbage collector",
				"live_bytes", live, "go_limit_bytes", b.limit)
		case lifted && live < b.limit/2:
			lifted = false
			debug.SetMemoryLimit(b.limit)
			b.log.Info("memory back within memory_budget", "live_bytes", live, "go_limit_bytes", b.limit)
		}
	}
}

// Close stops watching and restores the limit in force before Start. It
// is idempotent.
func (b *Budget) Close() {
	b.once.Do(func() {
		if b.cancel == nil {
			return
		}
		b.cancel()
		<-b.done
		debug.SetMemoryLimit(b.prev)
	})
}
