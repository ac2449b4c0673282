package membudget

import (
	"log/slog"
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func currentLimit() int64 { return debug.SetMemoryLimit(-1) }

func TestBudgetSetsAndRestoresTheLimit(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	before := currentLimit()
	for _, c := range []struct {
		name   string
		budget int64
		want   int64
	}{
		{"none", 0, before},
		{"default", 96 << 20, 96<<20 - Reserve},
		{"below the minimum", 40 << 20, Min - Reserve},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := Start(c.budget, slog.New(slog.DiscardHandler))
			if got := currentLimit(); got != c.want {
				t.Fatalf("limit %d, want %d", got, c.want)
			}
			b.Close()
			b.Close() // idempotent
			if got := currentLimit(); got != before {
				t.Fatalf("after Close the limit is %d, want %d back", got, before)
			}
		})
	}
}

func TestBudgetLeavesGOMEMLIMITAlone(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "1GiB")
	before := currentLimit()
	b := Start(96<<20, slog.New(slog.DiscardHandler))
	defer b.Close()
	if got := currentLimit(); got != before || b.Limit() != 0 {
		t.Fatalf("GOMEMLIMIT set: limit %d (was %d), budget's %d", got, before, b.Limit())
	}
}

// Live data past three quarters of the limit lifts it (a limit would make
// the collector run without pause); it comes back once the data goes.
func TestBudgetLiftsForLiveData(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	b := Start(Min, slog.New(slog.DiscardHandler))
	defer b.Close()
	await := func(want int64, what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for currentLimit() != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: limit %d, want %d", what, currentLimit(), want)
			}
			runtime.GC()
			time.Sleep(10 * time.Millisecond)
		}
	}
	live := make([][]byte, 0, 64)
	for range int(b.Limit()*7/8) >> 20 {
		live = append(live, make([]byte, 1<<20))
	}
	await(math.MaxInt64, "with live data past the limit")
	runtime.KeepAlive(live)
	live = nil
	await(b.Limit(), "once the data is gone")
}
