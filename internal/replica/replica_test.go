package replica

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/store"
	"github.com/numax/numax/internal/testutil"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv("NUMAX_REPLICA_CRASH_CHILD"); dir != "" {
		if os.Getenv("NUMAX_REPLICA_CRASH_MODE") == "view" {
			viewCrashChild(dir)
			return
		}
		crashChild(dir, os.Getenv("NUMAX_REPLICA_CRASH_MODE"))
		return
	}
	goleak.VerifyTestMain(m)
}

func openStore(t testing.TB, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(store.DefaultConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func openReplica(t testing.TB, cfg Config) *Replica {
	t.Helper()
	r, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func write(t testing.TB, r *Replica, op *crdt.Op) crdt.OpID {
	t.Helper()
	id, err := r.Write(context.Background(), op, nil)
	if err != nil {
		t.Fatalf("Write %s: %v", op.Kind, err)
	}
	return id
}

func gcounter(r *Replica, key string) uint64 {
	var v uint64
	r.Read(crdt.ObjKey{Type: crdt.TypeGCounter, Key: key}, func(o crdt.Object) {
		if o != nil {
			v = o.(*crdt.GCounter).Value()
		}
	})
	return v
}

func TestReplica_PersistsAndHydrates(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	r := openReplica(t, Config{Store: st})
	id := r.NodeID()
	write(t, r, &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 5})
	write(t, r, &crdt.Op{Kind: crdt.PNCounterDec, Key: "p", Delta: 2})
	write(t, r, &crdt.Op{Kind: crdt.LWWSet, Key: "r", Value: []byte("v")})
	write(t, r, &crdt.Op{Kind: crdt.LWWMapSet, Key: "m", Field: []byte("f"), Value: []byte("1")})
	write(t, r, &crdt.Op{Kind: crdt.ORSetAdd, Key: "s", Field: []byte("e")})
	first := write(t, r, &crdt.Op{Kind: crdt.RGAInsert, Key: "l", Value: []byte("a")})
	write(t, r, &crdt.Op{Kind: crdt.RGAInsert, Key: "l", Ref: first, Value: []byte("b")})
	write(t, r, &crdt.Op{Kind: crdt.ORSetRemove, Key: "s", Field: []byte("e")})
	if _, err := r.Write(context.Background(), &crdt.Op{Kind: crdt.ORSetRemove, Key: "s", Field: []byte("never")}, nil); !errors.Is(err, ErrNoop) {
		t.Fatalf("remove of unseen element: %v", err)
	}
	if _, err := r.Write(context.Background(), &crdt.Op{Kind: crdt.RGADelete, Key: "l", Ref: crdt.OpID{Seq: 99, Origin: id}}, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete of unknown element: %v", err)
	}
	if _, err := r.Write(context.Background(), &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1}, func(crdt.OpID) bool { return false }); !errors.Is(err, ErrRejected) {
		t.Fatalf("rejected write: %v", err)
	}
	want := r.Digest()
	if r.VV()[id] != 8 {
		t.Fatalf("vv = %v", r.VV())
	}
	r.Close(context.Background())
	st.Close()

	st = openStore(t, dir)
	defer st.Close()
	r2 := openReplica(t, Config{Store: st})
	defer r2.Close(context.Background())
	if r2.NodeID() != id {
		t.Fatalf("node id changed across restart: %s -> %s", id, r2.NodeID())
	}
	if !bytes.Equal(r2.Digest(), want) {
		t.Fatal("hydrated state differs from the state before restart")
	}
	if n := write(t, r2, &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1}); n.Seq != 9 {
		t.Fatalf("seq after restart = %d, want 9", n.Seq)
	}
	if r2.Stats().OpLogEntries != 9 {
		t.Fatalf("op log entries = %d", r2.Stats().OpLogEntries)
	}
}

func TestReplica_Identity(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	defer st.Close()
	a, b := NewNodeID(), NewNodeID()
	r := openReplica(t, Config{Store: st, NodeID: a})
	r.Close(context.Background())
	_, err := Open(Config{Store: st, NodeID: b})
	var ie *IdentityError
	if !errors.As(err, &ie) || ie.Stored != a || ie.Current != b {
		t.Fatalf("err = %v", err)
	}
	r = openReplica(t, Config{Store: st, NodeID: b, AdoptIdentity: true})
	r.Close(context.Background())
	r = openReplica(t, Config{Store: st})
	defer r.Close(context.Background())
	if r.NodeID() != b {
		t.Fatalf("adopted identity not kept: %s", r.NodeID())
	}
	if _, err := Open(Config{Store: st, NodeID: "NOT-HEX"}); err == nil {
		t.Fatal("invalid NodeId accepted")
	}
}

func TestReplica_CorruptRecordStopsStart(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	defer st.Close()
	r := openReplica(t, Config{Store: st})
	write(t, r, &crdt.Op{Kind: crdt.LWWSet, Key: "status", Value: []byte("ok")})
	r.Close(context.Background())
	st.Set(store.CRDT, objPrefix(crdt.ObjKey{Type: crdt.TypeLWWRegister, Key: "status"}), []byte{1, 3, 9, 9})
	_, err := Open(Config{Store: st})
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.What != `CRDT lww-register "status"` {
		t.Fatalf("err = %v", err)
	}
	st.Set(store.CRDT, objPrefix(crdt.ObjKey{Type: crdt.TypeLWWRegister, Key: "status"}), []byte{7, 3})
	_, err = Open(Config{Store: st})
	var ve *crdt.VersionError
	if !errors.As(err, &ve) || ve.Version != 7 {
		t.Fatalf("unknown version: %v", err)
	}
}

// recorder is a Transport with fake peers (one if peers is unset) that
// records what it is sent, and to whom.
type recorder struct {
	peers []string
	mu    sync.Mutex
	msgs  []*Message
	to    []string      // msgs[i] went to to[i]
	block chan struct{} // if set, Send waits on it
}

func (rc *recorder) Peers() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.peers == nil {
		return []string{"ffffffffffffffffffffffffffffffff"}
	}
	return slices.Clone(rc.peers)
}
func (rc *recorder) Send(peer string, m *Message) error {
	if rc.block != nil {
		<-rc.block
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.msgs = append(rc.msgs, m)
	rc.to = append(rc.to, peer)
	return nil
}

// recorded opens a replica on a fresh store, its transport a recorder
// with peers; both close when the test ends.
func recorded(t *testing.T, cfg Config, peers ...string) (*Replica, *recorder) {
	t.Helper()
	pr := &recorder{peers: peers}
	st := openStore(t, t.TempDir())
	t.Cleanup(func() { st.Close() })
	cfg.Store, cfg.Transport = st, pr
	r := openReplica(t, cfg)
	t.Cleanup(func() { r.Close(context.Background()) })
	return r, pr
}

// pulled returns how many pulls peer was sent.
func (rc *recorder) pulled(peer string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for i, m := range rc.msgs {
		if m.Kind == PullSince && rc.to[i] == peer {
			n++
		}
	}
	return n
}
func (rc *recorder) pushed() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for _, m := range rc.msgs {
		if m.Kind == PushOps {
			n += len(m.Ops)
		}
	}
	return n
}

// durableRecorder records, for every push, how far the store was durable
// when it was sent.
type durableRecorder struct {
	recorder
	st            *store.Store
	durableAtSend []uint64
}

func (d *durableRecorder) Send(p string, m *Message) error {
	if m.Kind == PushOps {
		d.mu.Lock()
		d.durableAtSend = append(d.durableAtSend, d.st.DurableSeq())
		d.mu.Unlock()
	}
	return d.recorder.Send(p, m)
}

// openUnsyncedStore opens a store in interval mode whose own timer never
// syncs (an hour): only explicit syncs make writes durable. It closes when
// the test ends.
func openUnsyncedStore(t *testing.T) *store.Store {
	cfg := store.DefaultConfig(t.TempDir())
	cfg.SyncInterval = time.Hour
	st, err := store.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestReplica_SendsOnlyDurableOps(t *testing.T) {
	st := openUnsyncedStore(t)
	rc := &durableRecorder{st: st}
	r := openReplica(t, Config{Store: st, Transport: rc})
	defer r.Close(context.Background())
	write(t, r, &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1})
	written := st.WrittenSeq()
	testutil.Eventually(t, 20*time.Second, "push", func() bool { return rc.pushed() == 1 })
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.durableAtSend[0] < written {
		t.Fatalf("op pushed while durable up to %d, its write is %d", rc.durableAtSend[0], written)
	}
}

func TestReplica_Backpressure(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	rc := &recorder{block: make(chan struct{})}
	r := openReplica(t, Config{Store: st, Transport: rc, QueueLimit: 3, BatchSize: 1})
	var err error
	n := 0
	for ; n < 100 && err == nil; n++ {
		_, err = r.Write(context.Background(), &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1}, nil)
	}
	if !errors.Is(err, ErrBackpressure) || n > 10 {
		t.Fatalf("after %d writes: %v", n, err)
	}
	if got := gcounter(r, "c"); got != uint64(n-1) {
		t.Fatalf("refused write was applied: value %d after %d accepted", got, n-1)
	}
	close(rc.block)
	r.Close(context.Background())
}

// cluster is n replicas on one MemNet, each with its own store.
type cluster struct {
	t     *testing.T
	net   *MemNet
	nodes []*Replica
	dirs  []string
	st    []*store.Store
	cfg   Config
	// pki, if set, gives every node a certificate and Auth (signed ops);
	// certs[i] is node i's, kept across restarts.
	pki   *testPKI
	certs []testNode
}

// awaitLinks waits until every node knows each peer's links (relays skip
// a peer linked to the origin; until its links are known a node relays).
func (c *cluster) awaitLinks() {
	c.t.Helper()
	byID := map[string]*Replica{}
	for _, r := range c.nodes {
		byID[r.NodeID()] = r
	}
	testutil.Eventually(c.t, 10*time.Second, "every peer's links known", func() bool {
		for _, r := range c.nodes {
			for _, p := range r.Peers() {
				want := map[string]bool{}
				for _, l := range byID[p].Peers() {
					want[l] = true
				}
				r.mu.Lock()
				ok := maps.Equal(r.peerLinks[p], want)
				r.mu.Unlock()
				if !ok {
					return false
				}
			}
		}
		return true
	})
}

// add starts one more node.
func (c *cluster) add() {
	c.dirs = append(c.dirs, c.t.TempDir())
	c.st = append(c.st, nil)
	c.nodes = append(c.nodes, nil)
	c.start(len(c.nodes) - 1)
}

// bothModes runs f unsigned (no TLS) and signed (Auth): newCluster gives
// the nodes of a test run under "signed" certificates.
func bothModes(t *testing.T, f func(t *testing.T)) {
	t.Run("unsigned", f)
	t.Run("signed", f)
}

func newCluster(t *testing.T, n int, cfg Config) *cluster {
	c := &cluster{t: t, net: NewMemNet(42), cfg: cfg}
	if strings.HasSuffix(t.Name(), "/signed") {
		c.pki = newTestPKI(t)
	}
	for i := 0; i < n; i++ {
		c.dirs = append(c.dirs, t.TempDir())
		c.st = append(c.st, nil)
		c.nodes = append(c.nodes, nil)
		c.start(i)
	}
	t.Cleanup(c.close)
	return c
}

func (c *cluster) start(i int) {
	c.st[i] = openStore(c.t, c.dirs[i])
	cfg := c.cfg
	cfg.Store = c.st[i]
	id := NewNodeID()
	if c.pki != nil {
		if len(c.certs) <= i {
			c.certs = append(c.certs, c.pki.node(c.t))
		}
		id = c.certs[i].id
		cfg.Auth = c.pki.auth(c.t, c.certs[i])
	}
	if c.nodes[i] != nil {
		id = c.nodes[i].NodeID()
	}
	cfg.NodeID = id
	cfg.Transport = c.net.Endpoint(id)
	c.nodes[i] = openReplica(c.t, cfg)
	c.net.Attach(c.nodes[i])
}

func (c *cluster) stop(i int) {
	c.net.Detach(c.nodes[i].NodeID())
	c.nodes[i].Close(context.Background())
	c.st[i].Close()
}

func (c *cluster) close() {
	for i, r := range c.nodes {
		if !r.closed.Load() {
			c.stop(i)
		}
	}
	c.net.Close()
}

func (c *cluster) converged() bool {
	d := c.nodes[0].Digest()
	for _, r := range c.nodes[1:] {
		if !bytes.Equal(r.Digest(), d) {
			return false
		}
	}
	return true
}

func (c *cluster) awaitConvergence(what string) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !c.converged() {
		if time.Now().After(deadline) {
			for i, r := range c.nodes {
				c.t.Logf("node %d vv %v stats %+v", i, r.VV(), r.Stats())
			}
			c.t.Fatalf("%s: not converged after 30s", what)
		}
		for _, r := range c.nodes {
			r.AntiEntropy()
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// randomOp draws a write on r: counters, registers, maps, sets and sequences,
// with removes and deletes of elements r has seen.
func randomOp(rng *rand.Rand, r *Replica) *crdt.Op {
	key := []string{"x", "y"}[rng.IntN(2)]
	val := []byte(fmt.Sprintf("v%d", rng.IntN(5)))
	switch rng.IntN(9) {
	case 0, 1:
		return &crdt.Op{Kind: crdt.GCounterInc, Key: key, Delta: uint64(rng.IntN(10))}
	case 2:
		k := crdt.PNCounterInc
		if rng.IntN(2) == 0 {
			k = crdt.PNCounterDec
		}
		return &crdt.Op{Kind: k, Key: key, Delta: uint64(rng.IntN(10))}
	case 3:
		return &crdt.Op{Kind: crdt.LWWSet, Key: key, Value: val}
	case 4:
		if rng.IntN(3) == 0 {
			return &crdt.Op{Kind: crdt.LWWMapRemove, Key: key, Field: val[:2]}
		}
		return &crdt.Op{Kind: crdt.LWWMapSet, Key: key, Field: val[:2], Value: val}
	case 5:
		if rng.IntN(3) == 0 {
			return &crdt.Op{Kind: crdt.ORSetRemove, Key: key, Field: val}
		}
		return &crdt.Op{Kind: crdt.ORSetAdd, Key: key, Field: val}
	default:
		var elems []*crdt.RGAElem
		r.Read(crdt.ObjKey{Type: crdt.TypeRGA, Key: key}, func(o crdt.Object) {
			if o != nil {
				elems = o.(*crdt.RGA).Visible()
			}
		})
		if len(elems) > 0 && rng.IntN(4) == 0 {
			return &crdt.Op{Kind: crdt.RGADelete, Key: key, Ref: elems[rng.IntN(len(elems))].ID}
		}
		op := &crdt.Op{Kind: crdt.RGAInsert, Key: key, Value: val}
		if len(elems) > 0 && rng.IntN(3) > 0 {
			op.Ref = elems[rng.IntN(len(elems))].ID
		}
		return op
	}
}

// TestCluster_ConvergesUnderFaults: 5 nodes write concurrently while
// messages are dropped, duplicated and reordered and the cluster is split;
// after healing every node holds exactly the same state and the counters
// equal the sum of every increment.
func TestCluster_ConvergesUnderFaults(t *testing.T) { bothModes(t, testClusterConvergesUnderFaults) }

func testClusterConvergesUnderFaults(t *testing.T) {
	c := newCluster(t, 5, Config{AntiEntropyInterval: 100 * time.Millisecond})
	c.net.SetFaults(0.15, 0.15, 5*time.Millisecond)
	var mu sync.Mutex
	total := map[string]uint64{}
	var wg sync.WaitGroup
	for i, r := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			for n := 0; n < 300; n++ {
				if n == 100 && i == 0 {
					ids := make([]string, 5)
					for j, x := range c.nodes {
						ids[j] = x.NodeID()
					}
					c.net.Partition(ids[:2], ids[2:])
				}
				op := randomOp(rng, r)
				_, err := r.Write(context.Background(), op, nil)
				if errors.Is(err, ErrNoop) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrBackpressure) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				if op.Kind == crdt.GCounterInc {
					mu.Lock()
					total[op.Key] += op.Delta
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	c.net.SetFaults(0, 0, 0)
	c.net.Heal()
	c.awaitConvergence("after heal")
	for key, want := range total {
		for i, r := range c.nodes {
			if got := gcounter(r, key); got != want {
				t.Fatalf("node %d gcounter %s = %d, want %d", i, key, got, want)
			}
		}
	}
	var dups uint64
	for _, r := range c.nodes {
		dups += r.Stats().RemoteDuplicates
	}
	t.Logf("converged; gcounters %v; duplicates discarded %d", total, dups)
}

// TestCluster_SnapshotPath: a node away while the others write more than the
// op log holds catches up from a snapshot and converges exactly.
func TestCluster_SnapshotPath(t *testing.T) { bothModes(t, testClusterSnapshotPath) }

func testClusterSnapshotPath(t *testing.T) {
	c := newCluster(t, 3, Config{OpLogLimit: 50, AntiEntropyInterval: 50 * time.Millisecond})
	write(t, c.nodes[2], &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1})
	c.awaitConvergence("before")
	c.stop(2)
	for n := 0; n < 500; n++ {
		write(t, c.nodes[n%2], &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1})
		write(t, c.nodes[n%2], &crdt.Op{Kind: crdt.ORSetAdd, Key: "s", Field: []byte(fmt.Sprint(n % 7))})
	}
	testutil.Eventually(t, 20*time.Second, "op logs pruned to their limit", func() bool {
		c.nodes[0].AntiEntropy()
		c.nodes[1].AntiEntropy()
		return c.nodes[0].Stats().OpLogEntries <= 50 && c.nodes[1].Stats().OpLogEntries <= 50
	})
	catchesUpBySnapshot(t, c, 2, 2, 501)
}

// catchesUpBySnapshot starts node i, waits for the cluster to converge and
// checks that node i counts want on "c" and got there through a snapshot;
// then that a write on node writer still replicates op by op.
func catchesUpBySnapshot(t *testing.T, c *cluster, i, writer int, want uint64) {
	t.Helper()
	c.start(i)
	c.awaitConvergence(fmt.Sprintf("after node %d started", i))
	if got := gcounter(c.nodes[i], "c"); got != want {
		t.Fatalf("node %d counts %d, want %d", i, got, want)
	}
	if c.nodes[i].Stats().SnapshotsApplied == 0 {
		t.Fatalf("node %d converged without a snapshot: the snapshot path was not exercised", i)
	}
	write(t, c.nodes[writer], &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1})
	c.awaitConvergence("after a write")
}

// TestCluster_PrunesAcknowledgedOps: once every peer has acknowledged the
// ops, the op log drops them.
func TestCluster_PrunesAcknowledgedOps(t *testing.T) { bothModes(t, testClusterPrunesAcknowledgedOps) }

func testClusterPrunesAcknowledgedOps(t *testing.T) {
	c := newCluster(t, 3, Config{AntiEntropyInterval: time.Hour})
	for n := 0; n < 20; n++ {
		write(t, c.nodes[0], &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1})
	}
	c.awaitConvergence("push")
	testutil.Eventually(t, 20*time.Second, "pruned", func() bool {
		for _, r := range c.nodes {
			r.AntiEntropy()
		}
		return c.nodes[0].Stats().OpLogEntries == 0 && c.nodes[1].Stats().OpLogEntries == 0
	})
	// The vector's value is the last log entry's seq until that is pruned;
	// pruning writes it. Restarted with an empty log, both nodes still know
	// how far node 0's ops are applied, and node 0 does not reuse a seq.
	origin := c.nodes[0].NodeID()
	for i := 0; i < 2; i++ {
		c.stop(i)
		c.start(i)
		if got := c.nodes[i].VV()[origin]; got != 20 {
			t.Fatalf("node %d after restart: vector says %d of node 0's ops, want 20", i+1, got)
		}
	}
	if id := write(t, c.nodes[0], &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1}); id.Seq != 21 {
		t.Fatalf("first write after restart has seq %d, want 21", id.Seq)
	}
}

// TestReplica_ClockSurvivesRestart: timestamps after a restart are above
// every one stored before it, even when the wall clock went back, although
// the clock is stored as a bound only every ~100 ms of timestamps.
func TestReplica_ClockSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	var wall atomic.Int64
	wall.Store(1_000_000)
	cfg := Config{Wall: wall.Load}
	st := openStore(t, dir)
	cfg.Store = st
	r := openReplica(t, cfg)
	var last uint64
	for i := 0; i < 50; i++ {
		wall.Add(7) // 350 ms of writes: several leases
		write(t, r, &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1})
		r.Read(crdt.ObjKey{Type: crdt.TypeGCounter, Key: "c"}, func(crdt.Object) {})
		last = r.clock.Last()
	}
	r.Close(context.Background())
	st.Close()
	wall.Store(1_000_000) // the wall clock went back 350 ms
	st = openStore(t, dir)
	defer st.Close()
	cfg.Store = st
	r = openReplica(t, cfg)
	defer r.Close(context.Background())
	write(t, r, &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1})
	if got := r.clock.Last(); got <= last {
		t.Fatalf("timestamp after restart %d, not above %d from before it", got, last)
	}
}

// TestCluster_RestartKeepsStateAndCatchesUp: a node restarted from its
// datastore keeps its ops and gets what it missed.
func TestCluster_RestartKeepsStateAndCatchesUp(t *testing.T) {
	bothModes(t, testClusterRestartKeepsStateAndCatchesUp)
}

func testClusterRestartKeepsStateAndCatchesUp(t *testing.T) {
	c := newCluster(t, 3, Config{AntiEntropyInterval: 50 * time.Millisecond})
	for n := 0; n < 50; n++ {
		write(t, c.nodes[n%3], &crdt.Op{Kind: crdt.PNCounterDec, Key: "p", Delta: 1})
	}
	c.awaitConvergence("before restart")
	c.stop(1)
	for n := 0; n < 1000; n++ {
		write(t, c.nodes[0], &crdt.Op{Kind: crdt.PNCounterInc, Key: "p", Delta: 2})
	}
	c.start(1)
	c.awaitConvergence("after restart")
	var v int64
	c.nodes[1].Read(crdt.ObjKey{Type: crdt.TypePNCounter, Key: "p"}, func(o crdt.Object) { v = o.(*crdt.PNCounter).Value() })
	if v != 1950 {
		t.Fatalf("value %d, want 1950", v)
	}
}

// TestCluster_RelaysAlongAChain: in a line A-B-C-D (no anti-entropy, no
// random pulls) ops written at either end reach the other end by relays
// alone, in both directions.
func TestCluster_RelaysAlongAChain(t *testing.T) { bothModes(t, testClusterRelaysAlongAChain) }

func testClusterRelaysAlongAChain(t *testing.T) {
	// Random pulls repair a relay skipped because a peer's links were not
	// known yet when it was due (they change under the writes here).
	c := newCluster(t, 4, Config{RelayDelay: 10 * time.Millisecond, RandomPullInterval: 200 * time.Millisecond})
	ids := make([]string, 4)
	for i, r := range c.nodes {
		ids[i] = r.NodeID()
	}
	for i := range ids {
		var links []string
		if i+1 < len(ids) {
			links = append(links, ids[i+1])
		}
		c.net.SetLinks(ids[i], links)
	}
	for n := 0; n < 200; n++ {
		write(t, c.nodes[0], &crdt.Op{Kind: crdt.GCounterInc, Key: "a", Delta: 1})
		write(t, c.nodes[3], &crdt.Op{Kind: crdt.GCounterInc, Key: "d", Delta: 1})
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		done := true
		for _, r := range c.nodes {
			done = done && gcounter(r, "a") == 200 && gcounter(r, "d") == 200
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			for i, r := range c.nodes {
				st := r.Stats()
				r.mu.Lock()
				t.Logf("node %d a=%d d=%d vv %v unproven %d heads %v links %v peerVV %v stats %+v", i, gcounter0(r, "a"), gcounter0(r, "d"), r.state.VV, r.unprovenN, len(r.heads), r.peerLinks, r.peerVV, st)
				for p, m := range r.unproven {
					for o, u := range m {
						t.Logf("  from %s origin %s: %d ops, heads %d", p[:6], o[:6], u.len(), len(u.heads))
					}
				}
				r.mu.Unlock()
			}
			t.Fatal("both ends' writes not on every node after 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gcounter0 is gcounter with r.mu held.
func gcounter0(r *Replica, key string) uint64 {
	if g, ok := r.state.Get(crdt.ObjKey{Type: crdt.TypeGCounter, Key: key}).(*crdt.GCounter); ok {
		return g.Value()
	}
	return 0
}

// TestCluster_FullMeshRelaysLittle: in a full mesh every node is linked to
// every origin and says so, so nothing is relayed, however short the relay
// delay (1 ms here, far less than an acknowledgement takes): the copies
// sent stay at the (N-1) per op of the origins' own pushes instead of the
// (N-1) + (N-1)(N-2) of relaying everything. Without the links, relays
// waiting only for acknowledgements sent about 2.1× that.
func TestCluster_FullMeshRelaysLittle(t *testing.T) { bothModes(t, testClusterFullMeshRelaysLittle) }

func testClusterFullMeshRelaysLittle(t *testing.T) {
	const n, each = 5, 2000
	c := newCluster(t, n, Config{RelayDelay: time.Millisecond})
	c.awaitLinks()
	var wg sync.WaitGroup
	for _, r := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < each; k++ {
				if _, err := r.Write(context.Background(), &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1}, nil); err != nil {
					if errors.Is(err, ErrBackpressure) {
						k--
						time.Sleep(time.Millisecond)
						continue
					}
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	testutil.Eventually(t, 30*time.Second, "every node holding every op", func() bool {
		for _, r := range c.nodes {
			if gcounter(r, "c") != n*each {
				return false
			}
		}
		return true
	})
	var sent uint64
	for _, r := range c.nodes {
		sent += r.Stats().OpsSent
	}
	ideal, relayAll := uint64(n*each*(n-1)), uint64(n*each*((n-1)+(n-1)*(n-2)))
	t.Logf("op copies sent: %d; own pushes alone %d; relaying everything %d", sent, ideal, relayAll)
	if sent > ideal*11/10 {
		t.Fatalf("%d op copies sent for %d ops on %d nodes: more than 1.1× the %d of the origins' pushes", sent, n*each, n, ideal)
	}
}

// TestReplica_GapPull: an op pushed ahead of a gap makes the node ask its
// sender (who holds every earlier op of that origin) for what it lacks once
// the gap has stayed open GapPullDelay, with no anti-entropy or random
// pull configured; a gap that closes by itself in time asks nobody.
func TestReplica_GapPull(t *testing.T) {
	const origin, p, q = "0123456789abcdef0123456789abcdef", "1111111111111111111111111111111a", "2222222222222222222222222222222b"
	r, pr := recorded(t, Config{GapPullDelay: 50 * time.Millisecond}, p, q)
	op := func(seq uint64) *crdt.Op {
		return &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1, Origin: origin, Seq: seq, HLC: seq << 16}
	}
	// A gap that closes at once: 2 from p, then 1 from q.
	if err := r.Handle(p, &Message{Kind: PushOps, Ops: []*crdt.Op{op(2)}}); err != nil {
		t.Fatal(err)
	}
	if err := r.Handle(q, &Message{Kind: PushOps, Ops: []*crdt.Op{op(1)}}); err != nil {
		t.Fatal(err)
	}
	if got := gcounter(r, "c"); got != 2 {
		t.Fatalf("counter %d after seqs 2 and 1, want 2", got)
	}
	// A gap that stays open: 4 from q, 3 never comes.
	if err := r.Handle(q, &Message{Kind: PushOps, Ops: []*crdt.Op{op(4)}}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, "a pull to q", func() bool { return pr.pulled(q) == 1 })
	// p's gap was due before q's and had closed: p was not asked.
	if n := pr.pulled(p); n != 0 {
		t.Fatalf("%d pulls to p, whose gap had closed; want 0", n)
	}
	if s := r.Stats(); s.GapPulls != 1 {
		t.Fatalf("GapPulls = %d, want 1", s.GapPulls)
	}
}

// TestReplica_GapPullWaitsForLinkedOrigins: a gap in the ops of an origin
// this node is linked to is left to the origin's own ordered pushes for ten
// GapPullDelays before the peer that opened it is asked.
func TestReplica_GapPullWaitsForLinkedOrigins(t *testing.T) {
	const p, q = "1111111111111111111111111111111a", "2222222222222222222222222222222b"
	const delay = 20 * time.Millisecond
	r, pr := recorded(t, Config{GapPullDelay: delay}, p, q)
	// q relays p's op 2; p's own op 1 never comes.
	start := time.Now()
	op := &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1, Origin: p, Seq: 2, HLC: 2 << 16}
	if err := r.Handle(q, &Message{Kind: PushOps, Ops: []*crdt.Op{op}}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, "a pull to q", func() bool { return pr.pulled(q) == 1 })
	if waited := time.Since(start); waited < linkedGapFactor*delay {
		t.Fatalf("q asked after %v; a linked origin's gap waits %v", waited, linkedGapFactor*delay)
	}
	if n := pr.pulled(p); n != 0 {
		t.Fatalf("%d pulls to p; want 0", n)
	}
}

// TestReplica_RandomPullOnlyWhenRelayed: a node linked to every origin it
// knows of gets each origin's ops in order from the origin itself, so its
// random pull asks nobody; once it holds ops of an origin it is not linked
// to, it asks a random peer.
func TestReplica_RandomPullOnlyWhenRelayed(t *testing.T) {
	const origin, p, q = "0123456789abcdef0123456789abcdef", "1111111111111111111111111111111a", "2222222222222222222222222222222b"
	r, pr := recorded(t, Config{}, p, q)
	push := func(from, origin string) {
		t.Helper()
		op := &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1, Origin: origin, Seq: 1, HLC: 1 << 16}
		if err := r.Handle(from, &Message{Kind: PushOps, Ops: []*crdt.Op{op}}); err != nil {
			t.Fatal(err)
		}
	}
	write(t, r, &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1})
	push(p, p)
	push(q, q)
	r.pullRandom()
	if n := pr.pulled(p) + pr.pulled(q); n != 0 {
		t.Fatalf("%d random pulls while linked to every origin; want 0", n)
	}
	push(p, origin) // relayed by p
	r.pullRandom()
	if n := pr.pulled(p) + pr.pulled(q); n != 1 {
		t.Fatalf("%d random pulls with a relayed origin; want 1", n)
	}
}

// linksSent returns the Links of the Acks peer was sent.
func (rc *recorder) linksSent(peer string) [][]string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out [][]string
	for i, m := range rc.msgs {
		if m.Kind == Ack && len(m.Links) > 0 && rc.to[i] == peer {
			out = append(out, m.Links)
		}
	}
	return out
}

// opsTo returns the ops of origin pushed to peer.
func (rc *recorder) opsTo(peer, origin string) []uint64 {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var seqs []uint64
	for i, m := range rc.msgs {
		if m.Kind != PushOps || rc.to[i] != peer {
			continue
		}
		for _, op := range m.Ops {
			if op.Origin == origin {
				seqs = append(seqs, op.Seq)
			}
		}
	}
	return seqs
}

func (rc *recorder) setPeers(peers ...string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.peers = peers
}

// TestReplica_TellsPeersItsLinks: on a link change every connected peer is
// sent this node's links once (an Ack with Links and no vector entries,
// which must not count as an acknowledgement of anything); a change that
// leaves the set as it was sends nothing.
func TestReplica_TellsPeersItsLinks(t *testing.T) {
	const p, q = "1111111111111111111111111111111a", "2222222222222222222222222222222b"
	r, pr := recorded(t, Config{}, q, p)
	r.PeerUp(q)
	want := []string{p, q}
	testutil.Eventually(t, 20*time.Second, "both peers told the links", func() bool {
		return len(pr.linksSent(p)) == 1 && len(pr.linksSent(q)) == 1
	})
	if got := pr.linksSent(p)[0]; !slices.Equal(got, want) {
		t.Fatalf("links sent %v, want %v", got, want)
	}
	pr.mu.Lock()
	for _, m := range pr.msgs {
		if m.Kind == Ack && len(m.VV) != 0 {
			t.Fatalf("links Ack carries vector %v; it must acknowledge nothing", m.VV)
		}
	}
	pr.mu.Unlock()
	r.PeerUp(p) // same set: nobody is told again
	r.PeerDown(q)
	pr.setPeers(p)
	r.PeerDown(q)
	testutil.Eventually(t, 20*time.Second, "p told q is gone", func() bool { return len(pr.linksSent(p)) == 2 })
	if got := pr.linksSent(p)[1]; !slices.Equal(got, []string{p}) {
		t.Fatalf("links after q left: %v, want [p]", got)
	}
	if n := len(pr.linksSent(q)); n != 1 {
		t.Fatalf("q, no longer connected, was sent links %d times; want 1", n)
	}
}

// TestReplica_RelaySkipsPeersLinkedToOrigin: a relayed op is not sent to a
// peer that said it is linked to the op's origin (the origin pushes it
// there itself); once that peer says the link is gone, the origin's next
// ops are relayed to it. This node's own ops go to every peer whatever
// their links.
func TestReplica_RelaySkipsPeersLinkedToOrigin(t *testing.T) {
	const origin, p, q = "0123456789abcdef0123456789abcdef", "1111111111111111111111111111111a", "2222222222222222222222222222222b"
	r, pr := recorded(t, Config{RelayDelay: time.Millisecond}, p, q)
	push := func(seq uint64) {
		t.Helper()
		op := &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1, Origin: origin, Seq: seq, HLC: seq << 16}
		if err := r.Handle(p, &Message{Kind: PushOps, Ops: []*crdt.Op{op}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Handle(q, &Message{Kind: Ack, VV: map[string]uint64{}, Links: []string{origin, r.NodeID()}}); err != nil {
		t.Fatal(err)
	}
	push(1)
	own := write(t, r, &crdt.Op{Kind: crdt.GCounterInc, Key: "c", Delta: 1})
	testutil.Eventually(t, 20*time.Second, "own op pushed to q", func() bool { return len(pr.opsTo(q, r.NodeID())) == 1 })
	if own.Seq != 1 {
		t.Fatalf("own op seq %d", own.Seq)
	}
	// The relay of op 1 was due before the own op was pushed (1 ms): had
	// it gone to q it would be there by now.
	if got := pr.opsTo(q, origin); len(got) != 0 {
		t.Fatalf("ops %v of an origin q is linked to were relayed to q", got)
	}
	if err := r.Handle(q, &Message{Kind: Ack, VV: map[string]uint64{}, Links: []string{r.NodeID()}}); err != nil {
		t.Fatal(err)
	}
	push(2)
	testutil.Eventually(t, 20*time.Second, "op 2 relayed to q, no longer linked to its origin", func() bool {
		return slices.Equal(pr.opsTo(q, origin), []uint64{2})
	})
	if got := pr.opsTo(p, origin); len(got) != 0 {
		t.Fatalf("ops %v relayed back to p, which sent them", got)
	}
}
