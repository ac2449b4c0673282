package perf

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/tetratelabs/wazero"

	"github.com/numax/numax/internal/abi"
	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/hostapi"
	"github.com/numax/numax/internal/replica"
	"github.com/numax/numax/internal/store"
	wt "github.com/numax/numax/internal/wasmtest"
)

// Profile sizes a run: smoke (seconds, run by make test) or full (make bench).
type Profile struct {
	Name     string
	StoreOps int // guest db_set ops (interval mode), in process
	// GuestWrites is how many db_set calls the store guest makes under
	// nx run; SpinLoops how many iterations its loop without host calls.
	GuestWrites, SpinLoops int
	SyncedOps              int // guest db_set ops with sync = always
	CRDTOps                int // local CRDT writes per type
	StartupRun             int // nx run repetitions per guest and cache state
	Rounds                 int // rounds of a gated throughput figure; the best is reported
	SyncOps                int // ops each node writes in sync-3
	RedisOps               int // increments each of three writers makes in redis-compare
	// LagSeconds is how long sync-3 writes 10 k ops/s per node for the
	// replication-delay figures.
	LagSeconds float64
	Sync10Ops  int // ops each node writes in sync-10
	// Chaos: ops/s per node, the kill period and the run's length.
	ChaosRate            int
	ChaosEvery, ChaosFor time.Duration
	PartitionRate        int // ops/s per node while partitioned
	PartitionFor         time.Duration
	// Gossip: cluster sizes (scenario "gossip"), the writer's ops/s and
	// how long it writes.
	GossipSizes   []int
	GossipRate    int
	GossipSeconds float64
	// Serve: how long each load runs, its connections, and how long the
	// change-to-client latency writes at 500/s.
	ServeFor       time.Duration
	ServeConns     int
	LatencySeconds float64
	// NodeProfiles, if set, is a directory where every nx process a
	// cluster scenario starts writes its CPU and heap profiles (nx run
	// --cpu-profile, --mem-profile), named after the cluster and the
	// node's start.
	NodeProfiles string
	// ScaleElems is the size of the large objects of crdt-scale;
	// ScaleOps the writes timed on them and ScaleSmallOps on the
	// 10-element ones (each write adds an element: enough for the guest's
	// millisecond clock, few enough that the small object stays small).
	ScaleElems, ScaleOps, ScaleSmallOps int
	// ManyObjects is how many maps and sets of ScaleElems elements the
	// many-elements part of crdt-scale seeds (its RSS figure).
	ManyObjects int
	// TLS runs the full-mesh cluster scenarios over mTLS with certificates
	// from nx cert (as a production cluster runs), not plain TCP.
	TLS bool
}

// Profiles are the two sizes.
var Profiles = map[string]Profile{
	"smoke": {Name: "smoke", StoreOps: 20_000, GuestWrites: 50_000, SpinLoops: 50_000_000, SyncedOps: 200, CRDTOps: 20_000, StartupRun: 1, Rounds: 1, SyncOps: 5_000, RedisOps: 5_000,
		LagSeconds: 1, Sync10Ops: 1_000, ChaosRate: 500, ChaosEvery: time.Second, ChaosFor: 3 * time.Second,
		PartitionRate: 1_000, PartitionFor: 2 * time.Second, GossipSizes: []int{5}, GossipRate: 50, GossipSeconds: 3,
		ServeFor: time.Second, ServeConns: 16, LatencySeconds: 1, ScaleElems: 10_000, ScaleOps: 500, ScaleSmallOps: 500, ManyObjects: 10},
	"full": {Name: "full", StoreOps: 1_000_000, GuestWrites: 200_000, SpinLoops: 500_000_000, SyncedOps: 5_000, CRDTOps: 300_000, StartupRun: 5, Rounds: 3, SyncOps: 200_000, RedisOps: 3_000_000,
		LagSeconds: 20, Sync10Ops: 30_000, ChaosRate: 1_000, ChaosEvery: 10 * time.Second, ChaosFor: time.Minute,
		PartitionRate: 600, PartitionFor: time.Minute, GossipSizes: []int{5, 16, 32}, GossipRate: 100, GossipSeconds: 20,
		ServeFor: 10 * time.Second, ServeConns: 32, LatencySeconds: 20, ScaleElems: 1_000_000, ScaleOps: 20_000, ScaleSmallOps: 20_000, ManyObjects: 10},
}

// dbSetLoop writes a 4-byte key (the loop counter, offset by memory[8..12])
// with a 100-byte value per iteration.
func dbSetLoop() []byte {
	body := wt.Cat(
		wt.I32Const(0), []byte{wt.OpLocalGet, 0}, wt.I32Const(0), []byte{0x28, 0x02, 0x08}, // i32.load offset=8
		[]byte{wt.OpI32Add}, []byte{0x36, 0x02, 0x00}, // memory[0] = n + base
		wt.I32Const(0), wt.I32Const(4), wt.I32Const(64), wt.I32Const(100),
		wt.Call(0), []byte{wt.OpDrop},
	)
	return wt.LoopModule([]wt.Import{{Module: "nx", Name: "db_set", Type: wt.FourI32}}, body, nil)
}

func percentile(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	return float64(d[int(p*float64(len(d)-1))].Nanoseconds()) / 1000
}

// Store measures db_set first on the path a user gets (storeUserPath: a C
// guest under nx run), then in process: guest db_set throughput and
// per-call latency next to raw Pebble writes of the same keys and values,
// at both durability settings.
func Store(ctx context.Context, p Profile, r *Report, dir, nx, guest string) error {
	if err := storeUserPath(ctx, p, r, dir, nx, guest); err != nil {
		return err
	}
	for _, mode := range []store.SyncMode{store.SyncInterval, store.SyncAlways} {
		n := p.StoreOps
		target := ">= 300000"
		if mode == store.SyncAlways {
			n, target = p.SyncedOps, ""
		}
		sc := store.DefaultConfig(filepath.Join(dir, "store-"+mode.String()))
		sc.Sync = mode
		st, err := store.Open(sc)
		if err != nil {
			return err
		}
		rt := wazero.NewRuntime(ctx)
		if _, err := hostapi.Instantiate(ctx, rt, &hostapi.Host{Store: st, Limits: abi.DefaultLimits()}); err != nil {
			return err
		}
		mod, err := rt.InstantiateWithConfig(ctx, dbSetLoop(), wazero.NewModuleConfig().WithName("store-bench"))
		if err != nil {
			return err
		}
		loop := mod.ExportedFunction("loop")
		start := time.Now()
		if _, err := loop.Call(ctx, uint64(n)); err != nil {
			return err
		}
		inproc := time.Since(start)
		// Per-call latency: one db_set per wasm call, on fresh keys.
		lat := make([]time.Duration, 0, n/10)
		base := make([]byte, 4)
		for i := 0; i < cap(lat); i++ {
			binary.LittleEndian.PutUint32(base, uint32(n+i+1))
			mod.Memory().Write(8, base)
			t0 := time.Now()
			if _, err := loop.Call(ctx, 1); err != nil {
				return err
			}
			lat = append(lat, time.Since(t0))
		}
		slices.Sort(lat)
		rt.Close(ctx)
		st.Close()

		db, err := pebble.Open(filepath.Join(dir, "raw-"+mode.String()), &pebble.Options{FormatMajorVersion: pebble.FormatNewest, Logger: quiet{}})
		if err != nil {
			return err
		}
		wo := pebble.NoSync
		if mode == store.SyncAlways {
			wo = pebble.Sync
		}
		key, val := make([]byte, 5), make([]byte, 100)
		key[0] = 'g'
		start = time.Now()
		for i := n; i > 0; i-- {
			binary.LittleEndian.PutUint32(key[1:], uint32(i))
			if err := db.Set(key, val, wo); err != nil {
				return err
			}
		}
		raw := time.Since(start)
		db.Close()
		m := mode.String()
		r.Add("in process: guest db_set/s ("+m+")", float64(n)/inproc.Seconds(), "ops/s", Throughput, target)
		r.Add("in process: raw Pebble Set/s ("+m+")", float64(n)/raw.Seconds(), "ops/s", Info, "")
		r.Add("in process: guest/raw ("+m+")", raw.Seconds()/inproc.Seconds(), "ratio", Throughput, ">= 0.5")
		r.Add("in process: db_set p50 ("+m+")", percentile(lat, 0.5), "µs", Latency, "")
		r.Add("in process: db_set p99 ("+m+")", percentile(lat, 0.99), "µs", Latency, "")
		r.Add("in process: db_set max ("+m+")", percentile(lat, 1), "µs", Info, "")
	}
	return nil
}

type quiet struct{}

func (quiet) Infof(string, ...any)              {}
func (quiet) Errorf(string, ...any)             {}
func (quiet) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

// CRDTLocal measures local CRDT writes (state + op log + vector, one atomic
// batch each) per type.
func CRDTLocal(ctx context.Context, p Profile, r *Report, dir string) error {
	st, err := store.Open(store.DefaultConfig(filepath.Join(dir, "crdt")))
	if err != nil {
		return err
	}
	defer st.Close()
	rep, err := replica.Open(replica.Config{Store: st})
	if err != nil {
		return err
	}
	defer rep.Close(ctx)
	kinds := []struct {
		name   string
		target string
		op     func(i int) *crdt.Op
	}{
		{"gcounter", ">= 200000", func(int) *crdt.Op { return &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1} }},
		{"pncounter", ">= 200000", func(i int) *crdt.Op {
			return &crdt.Op{Kind: crdt.PNCounterInc + crdt.Kind(i%2), Key: "p", Delta: 1}
		}},
		{"lww-register", "", func(i int) *crdt.Op { return &crdt.Op{Kind: crdt.LWWSet, Key: "r", Value: []byte("value")} }},
		{"lww-map", "", func(i int) *crdt.Op {
			return &crdt.Op{Kind: crdt.LWWMapSet, Key: "m", Field: []byte(fmt.Sprint(i % 64)), Value: []byte("v")}
		}},
		{"orset", "", func(i int) *crdt.Op {
			return &crdt.Op{Kind: crdt.ORSetAdd, Key: "s", Field: []byte(fmt.Sprint(i % 64))}
		}},
	}
	for _, k := range kinds {
		n, rounds, kind := p.CRDTOps, p.Rounds, Throughput
		if k.target == "" {
			// Whole-object types: every write re-encodes the object, so a
			// long run would only measure how big it grew. Reported, not
			// gated (their rate swings with the object's size).
			n, rounds, kind = min(n, 5000), 1, Info
		}
		best := 0.0
		for round := 0; round < rounds; round++ {
			start := time.Now()
			for i := 0; i < n; i++ {
				if _, err := rep.Write(ctx, k.op(i), nil); err != nil {
					return err
				}
			}
			best = max(best, float64(n)/time.Since(start).Seconds())
		}
		r.Add(k.name+" writes/s", best, "ops/s", kind, k.target)
	}
	r.Note("LWW-Map and ORSet objects are stored whole: each write re-encodes the object, so their rate falls as it grows " +
		"(ORSet re-adds accumulate one tag per add). Measured over at most 5000 writes on 64 fields/elements.")
	return nil
}

// Startup measures whole-process `nx run` time for each guest, with a cold
// compile cache and a warm one.
func Startup(ctx context.Context, p Profile, r *Report, dir, nx string, guests map[string]string) error {
	names := make([]string, 0, len(guests))
	for n := range guests {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		var cold, warm []time.Duration
		for i := 0; i < p.StartupRun; i++ {
			cache := filepath.Join(dir, fmt.Sprintf("cache-%s-%d", name, i))
			for pass := 0; pass < 2; pass++ {
				cmd := exec.CommandContext(ctx, nx, "run", guests[name], "--datastore-path", filepath.Join(dir, "d-"+name),
					"--compile-cache", cache, "--log-level", "error")
				cmd.Env = os.Environ()
				t0 := time.Now()
				if out, err := cmd.CombinedOutput(); err != nil {
					return fmt.Errorf("nx run %s: %v: %s", name, err, out)
				}
				if pass == 0 {
					cold = append(cold, time.Since(t0))
				} else {
					warm = append(warm, time.Since(t0))
				}
			}
		}
		slices.Sort(cold)
		slices.Sort(warm)
		r.Add(name+" start cold", float64(cold[len(cold)/2].Microseconds())/1000, "ms", Latency, "")
		r.Add(name+" start cached", float64(warm[len(warm)/2].Microseconds())/1000, "ms", Latency, "")
	}
	return nil
}
