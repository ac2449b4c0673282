package perf

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// StoreKey is key i of the store benchmark's guest (testdata/guests/dbwrite.c
// makes the same): i big-endian, then 12 bytes of an xorshift of i.
func StoreKey(k []byte, i uint32) []byte {
	k = binary.BigEndian.AppendUint32(k, i)
	x := i * 2654435761
	for range 12 {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		k = append(k, byte(x))
	}
	return k
}

// storeUserPath measures db_set as a user gets it: the dbwrite C guest
// under `nx run` with default settings (the time limit on, sync =
// interval), timed by the guest, beside raw Pebble writes of the same keys
// and values in this process, in the same run; then the same guest with
// the time limit off, and a loop without host calls with and without it
// (what the limit's check costs per call and per loop iteration). Each
// figure is the median of p.Rounds runs.
func storeUserPath(ctx context.Context, p Profile, r *Report, dir, nx, guest string) error {
	n := p.GuestWrites
	var withLimit, noLimit, raw, rawBatched, spinLimit, spinFree []float64
	for round := range max(p.Rounds, 1) {
		for i, c := range []struct {
			out   *[]float64
			args  []string
			env   string
			field string // what the guest prints
		}{
			{&withLimit, nil, "NX_COUNT=" + strconv.Itoa(n), "elapsed_ms"},
			{&noLimit, []string{"--guest-timeout", "0"}, "NX_COUNT=" + strconv.Itoa(n), "elapsed_ms"},
			{&spinLimit, nil, "NX_SPIN=" + strconv.Itoa(p.SpinLoops), "spin_ms"},
			{&spinFree, []string{"--guest-timeout", "0"}, "NX_SPIN=" + strconv.Itoa(p.SpinLoops), "spin_ms"},
		} {
			data := filepath.Join(dir, fmt.Sprintf("guest-%d-%d", round, i))
			args := append([]string{"run", guest, "--datastore-path", data, "--log-level", "error"}, c.args...)
			cmd := exec.CommandContext(ctx, nx, args...)
			cmd.Env = append(os.Environ(), c.env)
			out, err := cmd.Output()
			if err != nil {
				return fmt.Errorf("nx %v: %v\n%s%s", args, err, out, stderrOf(err))
			}
			ms, ok := field(string(out), c.field)
			if !ok {
				return fmt.Errorf("nx %v: the guest printed %q", args, out)
			}
			*c.out = append(*c.out, max(ms, 1)/1000)
			if err := os.RemoveAll(data); err != nil {
				return err
			}
		}
		secs, err := rawPebbleWrites(filepath.Join(dir, fmt.Sprintf("raw-%d", round)), n, false)
		if err != nil {
			return err
		}
		raw = append(raw, secs)
		if secs, err = rawPebbleWrites(filepath.Join(dir, fmt.Sprintf("rawb-%d", round)), n, true); err != nil {
			return err
		}
		rawBatched = append(rawBatched, secs)
	}
	med := func(v []float64) float64 {
		slices.Sort(v)
		return v[len(v)/2]
	}
	g, g0, rw := med(withLimit), med(noLimit), med(raw)
	s, s0 := med(spinLimit), med(spinFree)
	r.Add("nx run C guest db_set/s (defaults)", float64(n)/g, "ops/s", Throughput, "")
	r.Add("raw Pebble Set/s (same keys and values, same run)", float64(n)/rw, "ops/s", Info, "")
	r.Add("nx run guest / raw Pebble", rw/g, "ratio", Throughput, ">= 0.8")
	r.Add("raw Pebble Set/s in batches of 1 MiB (what grouping can reach)", float64(n)/med(rawBatched), "ops/s", Info, "")
	r.Add("nx run C guest db_set/s, --guest-timeout 0", float64(n)/g0, "ops/s", Info, "")
	r.Add("time limit's cost per db_set", (g-g0)/float64(n)*1e9, "ns", Info, "")
	r.Add("time limit's cost per loop iteration without host calls", (s-s0)/float64(p.SpinLoops)*1e9, "ns", Info, "")
	r.Add("loop iteration without host calls, time limit on", s/float64(p.SpinLoops)*1e9, "ns", Info, "")
	r.Note("User path: testdata/guests/dbwrite.c under `nx run` with default settings (time limit on, sync = interval), "+
		"%d db_set calls of a 16-byte key and a 256-byte value, timed by the guest; raw Pebble: the same keys (with the store's "+
		"space byte) and values, one Set each without sync, default options, in the benchmark's process (and, for comparison, the same in batches of 1 MiB: "+
		"in interval mode the store groups commits into one Pebble batch of up to 1 MiB, applied before any read and at each sync); medians of %d runs. "+
		"The time limit's cost is the same guest with --guest-timeout 0 subtracted; per loop iteration, a loop of %d iterations "+
		"without host calls. The in-process lines below call the host module from a wasm loop without the engine's time limit.",
		n, max(p.Rounds, 1), p.SpinLoops)
	return nil
}

// rawPebbleWrites writes the benchmark's n keys and values to a new Pebble
// with default options, one Set each without sync (or, batched, in batches
// of about 1 MiB as the store groups commits in interval mode), and returns
// the seconds.
func rawPebbleWrites(dir string, n int, batched bool) (float64, error) {
	db, err := pebble.Open(dir, &pebble.Options{FormatMajorVersion: pebble.FormatNewest, Logger: quiet{}})
	if err != nil {
		return 0, err
	}
	val := make([]byte, 256)
	for i := range val {
		val[i] = byte(i * 7)
	}
	key := make([]byte, 0, 17)
	start := time.Now()
	b := db.NewBatch()
	for i := range n {
		key = StoreKey(append(key[:0], 'g'), uint32(i))
		var err error
		switch {
		case !batched:
			err = db.Set(key, val, pebble.NoSync)
		case b.Len() >= 1<<20:
			if err = b.Commit(pebble.NoSync); err == nil {
				b = db.NewBatch()
			}
			fallthrough
		default:
			if err == nil {
				err = b.Set(key, val, nil)
			}
		}
		if err != nil {
			db.Close()
			return 0, err
		}
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		db.Close()
		return 0, err
	}
	secs := time.Since(start).Seconds()
	if err := db.Close(); err != nil {
		return 0, err
	}
	return secs, os.RemoveAll(dir)
}
