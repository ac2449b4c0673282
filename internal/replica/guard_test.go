package replica

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/testutil"
)

const (
	victim = "0123456789abcdef0123456789abcdef"
	evil   = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
)

// An op stamped far ahead of this node's clock is held: not applied, the
// clock does not move, the skew is reported; it applies once the wall clock
// catches up, with the ops of its origin that waited behind it.
func TestReplica_FutureOpsHeld(t *testing.T) {
	var wall atomic.Int64
	wall.Store(1_000_000)
	var mu sync.Mutex
	var skews []time.Duration
	r, _ := recorded(t, Config{Wall: wall.Load, MaxClockOffset: time.Minute,
		OnClockSkew: func(_ string, d time.Duration) { mu.Lock(); skews = append(skews, d); mu.Unlock() }}, evil)
	ahead := uint64(1_000_000+10*60_000) << 16 // ten minutes ahead
	ops := []*crdt.Op{
		{Kind: crdt.LWWSet, Key: "r", Value: []byte("future"), Origin: evil, Seq: 1, HLC: ahead},
		{Kind: crdt.GCounterInc, Key: "c", Delta: 1, Origin: evil, Seq: 2, HLC: ahead + 1},
	}
	clockBefore := r.clock.Last()
	if err := r.Handle(evil, &Message{Kind: PushOps, Ops: ops}); err != nil {
		t.Fatal(err)
	}
	if r.Held() != 2 || gcounter(r, "c") != 0 || r.VV()[evil] != 0 {
		t.Fatalf("held %d, counter %d, vv %d: a future op was applied", r.Held(), gcounter(r, "c"), r.VV()[evil])
	}
	if r.clock.Last() != clockBefore {
		t.Fatalf("clock moved from %d to %d", clockBefore, r.clock.Last())
	}
	mu.Lock()
	if len(skews) != 1 || skews[0] < 9*time.Minute {
		t.Fatalf("skews reported: %v", skews)
	}
	mu.Unlock()
	// The local clock keeps its own time: a local write is stamped now.
	id := write(t, r, &crdt.Op{Kind: crdt.LWWSet, Key: "r", Value: []byte("local")})
	_ = id
	// Time passes: the held ops apply.
	wall.Store(1_000_000 + 10*60_000)
	testutil.Eventually(t, 10*time.Second, "held ops applied", func() bool { return gcounter(r, "c") == 1 && r.Held() == 0 })
}

// The maximum timestamp never wraps the clock: it is held forever (bounded)
// and local writes keep working.
func TestReplica_MaxTimestampHeld(t *testing.T) {
	var skew time.Duration
	r, _ := recorded(t, Config{MaxHeld: 2, OnClockSkew: func(_ string, d time.Duration) { skew = d }}, evil)
	for seq := uint64(1); seq <= 5; seq++ {
		op := &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1, Origin: evil, Seq: seq, HLC: math.MaxUint64}
		if err := r.Handle(evil, &Message{Kind: PushOps, Ops: []*crdt.Op{op}}); err != nil {
			t.Fatal(err)
		}
	}
	if r.Held() != 2 {
		t.Fatalf("held %d, want the bound 2", r.Held())
	}
	if skew < 100*365*24*time.Hour {
		t.Fatalf("skew reported %s for the maximum timestamp (overflowed?)", skew)
	}
	before := r.clock.Last()
	write(t, r, &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1})
	if after := r.clock.Last(); after <= before || after == math.MaxUint64 {
		t.Fatalf("clock %d -> %d", before, after)
	}
}

// A snapshot nobody asked for, and one claiming more of this node's own
// ops than it made, are refused with nothing applied.
func TestReplica_SnapshotRules(t *testing.T) {
	var kinds []string
	r, _ := recorded(t, Config{OnViolation: func(_, k string) { kinds = append(kinds, k) }}, evil)
	write(t, r, &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1})
	own := r.NodeID()
	g := &crdt.GCounter{}
	g.Apply(&crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1_000_000, Origin: victim, Seq: 1})
	enc := g.AppendBinary(nil)
	snap := &Message{Kind: Snapshot, VV: map[string]uint64{victim: 1_000_000}, Objects: map[crdt.ObjKey][]byte{{Type: crdt.TypeGCounter, Key: "c"}: enc}}
	err := r.Handle(evil, snap)
	var v *Violation
	if !errors.As(err, &v) || v.Kind != "unsolicited_snapshot" || r.VV()[victim] != 0 {
		t.Fatalf("unsolicited snapshot: err %v, vv %v", err, r.VV())
	}
	// Asked for, but claiming this node's own origin beyond its sequence.
	r.pull(evil)
	snap.VV = map[string]uint64{own: math.MaxUint64}
	err = r.Handle(evil, snap)
	if !errors.As(err, &v) || v.Kind != "own_origin_claim" || r.VV()[own] != 1 {
		t.Fatalf("own-origin claim: err %v, vv %v", err, r.VV())
	}
	// Writes keep working.
	write(t, r, &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1})
	if len(kinds) != 2 {
		t.Fatalf("violations reported: %v", kinds)
	}
}

// A datastore whose own sequence is at the maximum refuses writes with a
// clear error instead of wrapping to 0.
func TestReplica_ExhaustedSequence(t *testing.T) {
	r, _ := recorded(t, Config{}, evil)
	r.mu.Lock()
	r.state.VV[r.NodeID()] = math.MaxUint64
	r.mu.Unlock()
	_, err := r.Write(t.Context(), &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1}, nil)
	if !errors.Is(err, ErrExhausted) {
		t.Fatalf("err = %v, want ErrExhausted", err)
	}
}

// Remote ops obey the guest limits: an oversized key or value is refused
// (the link closes) and nothing of the push applies.
func TestReplica_RemoteOpsObeyLimits(t *testing.T) {
	var kinds []string
	r, _ := recorded(t, Config{MaxKey: 16, MaxValue: 32, OnViolation: func(_, k string) { kinds = append(kinds, k) }}, evil)
	for _, op := range []*crdt.Op{
		{Kind: crdt.LWWSet, Key: strings.Repeat("k", 17), Value: []byte("v"), Origin: evil, Seq: 1, HLC: 1 << 16},
		{Kind: crdt.LWWSet, Key: "k", Value: make([]byte, 33), Origin: evil, Seq: 1, HLC: 1 << 16},
		{Kind: crdt.LWWMapSet, Key: "m", Field: []byte(strings.Repeat("f", 17)), Value: []byte("v"), Origin: evil, Seq: 1, HLC: 1 << 16},
	} {
		ok := &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1, Origin: victim, Seq: 1, HLC: 1 << 16}
		err := r.Handle(evil, &Message{Kind: PushOps, Ops: []*crdt.Op{ok, op}})
		var v *Violation
		if !errors.As(err, &v) || v.Kind != "op_over_limit" {
			t.Fatalf("err = %v", err)
		}
		if gcounter(r, "c") != 0 || r.VV()[evil] != 0 {
			t.Fatal("part of a refused push was applied")
		}
	}
	if len(kinds) != 3 {
		t.Fatalf("violations %v", kinds)
	}
}

// A peer asking for everything again and again gets answers at most at the
// configured rate: the first at once, the rest only as its budget refills.
func TestReplica_PullAnswersRateLimited(t *testing.T) {
	r, pr := recorded(t, Config{ServeRate: 1000}, evil)
	for range 200 {
		write(t, r, &crdt.Op{Kind: crdt.LWWSet, Key: "k", Value: make([]byte, 40)})
	}
	answers := func() int {
		pr.mu.Lock()
		defer pr.mu.Unlock()
		n := 0
		for i, m := range pr.msgs {
			if pr.to[i] == evil && m.Kind == PushOps && len(m.Ops) > 0 && m.Ops[0].Seq == 1 {
				n++
			}
		}
		return n
	}
	// This node's own pushes of those ops first; then only pull answers.
	testutil.Eventually(t, 10*time.Second, "the ops pushed", func() bool { return answers() == 1 })
	pr.mu.Lock()
	pr.msgs, pr.to = nil, nil
	pr.mu.Unlock()
	for range 20 {
		if err := r.Handle(evil, &Message{Kind: PullSince, VV: map[string]uint64{}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := answers(); n != 1 {
		t.Fatalf("%d answers to 20 pulls of about 10 KB each at 1000 B/s, want 1", n)
	}
	if s := r.Stats(); s.PullsLimited != 19 {
		t.Fatalf("PullsLimited = %d, want 19", s.PullsLimited)
	}
}

// Fake origins cost nothing: ops from origins outside the allowlist are
// refused, a push past MaxOrigins is refused, and claims in a vector about
// unknown origins are not stored.
func TestReplica_OriginsBounded(t *testing.T) {
	allowed := map[string]bool{victim: true, evil: true}
	r, _ := recorded(t, Config{MaxOrigins: 3, AllowedOrigin: func(id string) bool { return allowed[id] }}, evil)
	stranger := "5555555555555555555555555555555a"
	err := r.Handle(evil, &Message{Kind: PushOps, Ops: []*crdt.Op{{Kind: crdt.GCounterInc, Key: "c", Delta: 1, Origin: stranger, Seq: 1, HLC: 1 << 16}}})
	var v *Violation
	if !errors.As(err, &v) || v.Kind != "origin_not_allowed" || gcounter(r, "c") != 0 {
		t.Fatalf("stranger's op: err %v, counter %d", err, gcounter(r, "c"))
	}
	// A vector naming 100000 origins: nothing stored.
	fake := map[string]uint64{}
	for i := range 100000 {
		fake[fmt.Sprintf("%032x", i+1)] = 1
	}
	if err := r.Handle(evil, &Message{Kind: Ack, VV: fake}); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	stored := len(r.peerVV[evil])
	r.mu.Unlock()
	if stored > 3 {
		t.Fatalf("%d vector entries stored for a peer's claims about unknown origins", stored)
	}
	// MaxOrigins: this node, the victim, then one more is the limit.
	r2, _ := recorded(t, Config{MaxOrigins: 2}, evil)
	write(t, r2, &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1})
	ops := []*crdt.Op{
		{Kind: crdt.GCounterInc, Key: "c", Delta: 1, Origin: victim, Seq: 1, HLC: 1 << 16},
		{Kind: crdt.GCounterInc, Key: "c", Delta: 1, Origin: evil, Seq: 1, HLC: 1 << 16},
	}
	if err := r2.Handle(evil, &Message{Kind: PushOps, Ops: ops}); !errors.As(err, &v) || v.Kind != "too_many_origins" {
		t.Fatalf("past MaxOrigins: %v", err)
	}
}
