//go:build wasip1

// writer makes NX_OPS separate increments of 1 to the GCounter NX_KEY
// (default "visits"), printing "ok <n>" after each one the host accepted,
// so a test killing the node knows which writes were acknowledged. With
// NX_RATE it paces itself to that many ops per second (sleeping whenever it
// is a millisecond or more ahead of schedule).
package main

import (
	"fmt"
	"strconv"
	"time"

	nx "github.com/numax/numax/sdk/go"
	"github.com/numax/numax/sdk/go/gcounter"
)

//go:wasmexport run
func run() {
	key, err := nx.Env("NX_KEY")
	if err != nil {
		key = "visits"
	}
	s, _ := nx.Env("NX_OPS")
	n, _ := strconv.Atoi(s)
	verbose, _ := nx.Env("NX_VERBOSE")
	rs, _ := nx.Env("NX_RATE")
	rate, _ := strconv.Atoi(rs)
	start := nx.Monotonic()
	for i := 1; i <= n; i++ {
		if rate > 0 {
			due := start + time.Duration(i-1)*time.Second/time.Duration(rate)
			if ahead := due - nx.Monotonic(); ahead >= time.Millisecond {
				time.Sleep(ahead)
			}
		}
		// ERR_INTERNAL here is the host's back-pressure (its outbound queue
		// is full): wait a little and retry, for at most 30 s per op.
		deadline := nx.Monotonic() + 30*time.Second
		for {
			err := gcounter.Inc(key, 1)
			if err == nil {
				break
			}
			if err != nx.ErrInternal || nx.Monotonic() > deadline {
				nx.Abort(fmt.Sprintf("op %d: %v", i, err))
			}
			time.Sleep(time.Millisecond)
		}
		if verbose != "" {
			fmt.Printf("ok %d\n", i)
		}
	}
}

func main() {}
