package perf

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// SyncN runs n nx processes in a full mesh on 127.0.0.1, each writing ops
// separate counter increments with the writer guest as fast as it can, and
// measures the sustained ops/s per node until every node holds every op,
// how long after the last writer finished that took, and each node's RSS.
func SyncN(ctx context.Context, p Profile, r *Report, dir, nx, writer string, n, ops int, rateTarget string, convergeMs int) error {
	c, err := newCluster(nx, writer, dir, n, clusterOpts{profiles: p.NodeProfiles, tls: p.TLS}, "--wait-before-run", "20s")
	if err != nil {
		return err
	}
	defer c.stop()
	start := time.Now()
	for i := 0; i < n; i++ {
		if err := c.start(ctx, i, fmt.Sprintf("NX_OPS=%d", ops)); err != nil {
			return err
		}
	}
	want := float64(n * ops)
	// Start-up: from launch until every node has made or received an op.
	started, err := poll(ctx, 5*time.Millisecond, 2*time.Minute, "every node's first op", func() (bool, error) {
		for i := range c.nodes {
			if v, err := c.metric(i, "numax_ops_total"); err != nil || v == 0 {
				if err := c.exited(i); err != nil {
					return false, err
				}
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	// Converged: every node's version vector the same and covering every
	// op (numax_ops_total counts ops applied one by one, not those a node
	// took in a snapshot after falling behind the op log).
	converged, err := c.waitFor(ctx, 10*time.Minute, fmt.Sprintf("every node holding %.0f ops", want), c.holdAll(want))
	if err != nil {
		return err
	}
	last := c.lastRun()
	if last.IsZero() || last.After(converged) {
		last = converged
	}
	r.Add("sustained ops/s per node (until all converged)", float64(ops)/converged.Sub(start).Seconds(), "ops/s", Throughput, rateTarget)
	r.Add("start-up (launch to every node's first op), share of the measured time", 100*started.Sub(start).Seconds()/converged.Sub(start).Seconds(), "%", Info, "")
	// Judged by its target, not by percentage: tens of ms swing by more than 20%.
	r.Add("converged after the load stopped", float64(converged.Sub(last).Milliseconds()), "ms", Info, fmt.Sprintf("<= %d", convergeMs))
	var worst float64
	for _, nd := range c.nodes {
		_, peak := rssBytes(nd.cmd.Process.Pid)
		worst = max(worst, peak)
	}
	r.Add("peak RSS, largest node", worst/1e6, "MB", Info, "<= 100") // targets are in decimal MB (10^6 bytes)
	// Waste: every op needs n-1 remote copies; more is duplicates
	// (relays, pulls of what was in flight).
	if mfs, _, err := c.scrapeAll(); err == nil {
		var copies float64
		for _, mf := range mfs {
			copies += value(mf, "numax_remote_ops_received_total")
		}
		r.Add(fmt.Sprintf("op copies received per op (%d = none wasted)", n-1), copies/want, "copies", Info, "")
	}
	r.Note("%d nx processes on 127.0.0.1 (%s, full mesh), each writing %d separate counter increments as fast as "+
		"it can; the clock starts at process launch, so it includes start-up, compilation and peer handshakes.", n, c.linkKind(), ops)
	return c.stop()
}

// Sync3 is SyncN for three nodes, then a second cluster writing at a fixed
// 10 k ops/s per node for p.LagSeconds to measure replication delay and RSS.
func Sync3(ctx context.Context, p Profile, r *Report, dir, nx, writer string) error {
	if err := SyncN(ctx, p, r, filepath.Join(dir, "max"), nx, writer, 3, p.SyncOps, ">= 50000", 1000); err != nil {
		return err
	}
	return fixedRate(ctx, p, r, filepath.Join(dir, "rate"), nx, writer, 3, 10_000, p.LagSeconds)
}

// Sync10 is SyncN for ten nodes.
func Sync10(ctx context.Context, p Profile, r *Report, dir, nx, writer string) error {
	return SyncN(ctx, p, r, dir, nx, writer, 10, p.Sync10Ops, ">= 5000", 2000)
}

// fixedRate runs n nodes each writing rate ops/s for secs seconds and
// reports the replication delay (write on the origin to apply on a peer)
// p50/p99/max and each node's RSS.
func fixedRate(ctx context.Context, p Profile, r *Report, dir, nx, writer string, n, rate int, secs float64) error {
	c, err := newCluster(nx, writer, dir, n, clusterOpts{profiles: p.NodeProfiles, tls: p.TLS}, "--wait-before-run", "20s")
	if err != nil {
		return err
	}
	defer c.stop()
	ops := int(float64(rate) * secs)
	for i := 0; i < n; i++ {
		if err := c.start(ctx, i, fmt.Sprintf("NX_OPS=%d", ops), fmt.Sprintf("NX_RATE=%d", rate)); err != nil {
			return err
		}
	}
	want := float64(n * ops)
	if _, err := c.waitFor(ctx, time.Duration(secs*float64(time.Second))+2*time.Minute, "every node holding every op",
		c.allEqual("numax_ops_total", want)); err != nil {
		return err
	}
	h, err := c.delays()
	if err != nil {
		return err
	}
	if h.count() != uint64((n-1)*n*ops) {
		r.Note("The delay histogram has %d observations for %d remote applies (the rest came by anti-entropy or snapshot).", h.count(), (n-1)*n*ops)
	}
	r.Add(fmt.Sprintf("replication delay p50 at %d ops/s/node", rate), 1000*h.quantile(0.50), "ms", Info, "")
	r.Add(fmt.Sprintf("replication delay p99 at %d ops/s/node", rate), 1000*h.quantile(0.99), "ms", Latency, "<= 20")
	for i, nd := range c.nodes {
		rss, peak := rssBytes(nd.cmd.Process.Pid)
		r.Add(fmt.Sprintf("RSS node %d after %d ops/s", i+1, rate), rss/1e6, "MB", Info, "<= 100")
		r.Add(fmt.Sprintf("peak RSS node %d at %d ops/s", i+1, rate), peak/1e6, "MB", Info, "<= 100")
	}
	r.Note("Replication delay: from an op's HLC wall time on its origin to its apply on each peer, from the nodes' "+
		"numax_replication_delay_seconds histograms (ms resolution, interpolated within buckets); %d nodes each writing "+
		"%d ops/s for %.0f s.", n, rate, secs)
	return c.stop()
}

// Chaos runs three nodes writing at p.ChaosRate ops/s each with sync =
// "always" (and again with "interval"); node 3 is SIGKILLed and restarted
// every p.ChaosEvery for p.ChaosFor. Each incarnation counts into its
// own GCounter key, so every key's final value can be checked against the
// writes its writer saw acknowledged: fewer is a lost acknowledged op, more
// than acknowledged + 1 (the op in flight at the kill) a double count.
func Chaos(ctx context.Context, p Profile, r *Report, dir, nx, writer string) error {
	for _, mode := range []string{"always", "interval"} {
		if err := chaos(ctx, p, r, filepath.Join(dir, mode), nx, writer, mode); err != nil {
			return fmt.Errorf("sync = %q: %w", mode, err)
		}
	}
	r.Note("Three nodes on 127.0.0.1, each writing %d ops/s to its own counter key; node 3 is SIGKILLed and restarted "+
		"every %v for %v, each incarnation writing to a new key. Acknowledged = the writer printed \"ok N\" after the "+
		"host call returned. Divergence compares every counter on every node (nx inspect) after settling.",
		p.ChaosRate, p.ChaosEvery, p.ChaosFor)
	return nil
}

func chaos(ctx context.Context, p Profile, r *Report, dir, nx, writer, mode string) error {
	c, err := newCluster(nx, writer, dir, 3, clusterOpts{sync: mode, reconnectMax: "1s", profiles: p.NodeProfiles, tls: p.TLS})
	if err != nil {
		return err
	}
	defer c.stop()
	total := int(float64(p.ChaosRate) * p.ChaosFor.Seconds())
	env := func(key string, ops int) []string {
		return []string{"NX_VERBOSE=1", "NX_KEY=" + key, fmt.Sprintf("NX_OPS=%d", ops), fmt.Sprintf("NX_RATE=%d", p.ChaosRate)}
	}
	acked := map[string]uint64{}
	for i := 0; i < 2; i++ {
		if err := c.start(ctx, i, env(fmt.Sprint("n", i+1), total)...); err != nil {
			return err
		}
	}
	begin := time.Now()
	restarts := 0
	for k := 0; ; k++ {
		key := fmt.Sprintf("n3-%d", k)
		last := time.Since(begin)+p.ChaosEvery >= p.ChaosFor
		ops := total
		if last {
			ops = max(int(float64(p.ChaosRate)*(p.ChaosFor-time.Since(begin)).Seconds()), 1)
		}
		if err := c.start(ctx, 2, env(key, ops)...); err != nil {
			return err
		}
		if last {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(p.ChaosEvery):
		}
		if err := c.exited(0); err != nil {
			return err
		}
		acked[key] = c.kill(2)
		restarts++
	}
	// Every writer finishes, then the cluster settles.
	loadEnd, err := c.waitFor(ctx, p.ChaosFor+2*time.Minute, "the writers finishing", func() bool { return !c.lastRun().IsZero() })
	if err != nil {
		return err
	}
	settled, err := c.waitFor(ctx, 2*time.Minute, "every node holding the same ops", c.sameVV)
	if err != nil {
		return err
	}
	acked["n1"], acked["n2"] = c.nodes[0].ackedOps(), c.nodes[1].ackedOps()
	acked[fmt.Sprintf("n3-%d", restarts)] = c.nodes[2].ackedOps()
	if err := c.stop(); err != nil {
		return err
	}
	states := make([]map[string]uint64, 3)
	for i := range states {
		if states[i], err = c.counters(ctx, i); err != nil {
			return err
		}
	}
	var lost, double, diverged, writes uint64
	keys := make([]string, 0, len(acked))
	for k := range acked {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var detail []string
	for _, k := range keys {
		v := states[0][k]
		writes += v
		if v < acked[k] {
			lost += acked[k] - v
		}
		if v > acked[k]+1 {
			double += v - acked[k] - 1
		}
		for i := 1; i < 3; i++ {
			if states[i][k] != v {
				diverged++
				detail = append(detail, fmt.Sprintf("%s: node 1 has %d, node %d has %d", k, v, i+1, states[i][k]))
			}
		}
	}
	for i := range states {
		if len(states[i]) != len(states[0]) {
			diverged++
			detail = append(detail, fmt.Sprintf("node %d holds %d counters, node 1 %d", i+1, len(states[i]), len(states[0])))
		}
	}
	lostTarget := "<= 0"
	if mode == "interval" {
		// At most the writes of the last sync_interval (10 ms) before each kill.
		lostTarget = fmt.Sprintf("<= %d", restarts*int(math.Ceil(float64(p.ChaosRate)*0.010)))
	}
	r.Add(fmt.Sprintf("sync=%s: restarts of node 3", mode), float64(restarts), "", Info, "")
	r.Add(fmt.Sprintf("sync=%s: ops written (all nodes)", mode), float64(writes), "ops", Info, "")
	r.Add(fmt.Sprintf("sync=%s: double counts", mode), float64(double), "ops", Info, "<= 0")
	r.Add(fmt.Sprintf("sync=%s: diverging counters after settling", mode), float64(diverged), "", Info, "<= 0")
	r.Add(fmt.Sprintf("sync=%s: acknowledged ops lost", mode), float64(lost), "ops", Info, lostTarget)
	r.Add(fmt.Sprintf("sync=%s: converged after the load stopped", mode), float64(settled.Sub(loadEnd).Milliseconds()), "ms", Info, "")
	if len(detail) > 0 {
		r.Note("sync=%s divergence: %s", mode, strings.Join(detail, "; "))
	}
	return nil
}

// Partition runs three nodes with node 3 cut off from nodes 1 and 2 while
// all of them write p.PartitionRate ops/s for p.PartitionFor, then
// heals, and reports the divergent ops and how long convergence took.
func Partition(ctx context.Context, p Profile, r *Report, dir, nx, writer string) error {
	c, err := newCluster(nx, writer, dir, 3, clusterOpts{proxied: true, reconnectMax: "500ms", profiles: p.NodeProfiles, tls: p.TLS})
	if err != nil {
		return err
	}
	defer c.stop()
	c.cut(2)
	ops := int(float64(p.PartitionRate) * p.PartitionFor.Seconds())
	for i := 0; i < 3; i++ {
		if err := c.start(ctx, i, fmt.Sprintf("NX_OPS=%d", ops), fmt.Sprintf("NX_RATE=%d", p.PartitionRate)); err != nil {
			return err
		}
	}
	if _, err := c.waitFor(ctx, p.PartitionFor+2*time.Minute, "the writers finishing", func() bool { return !c.lastRun().IsZero() }); err != nil {
		return err
	}
	// Each side is complete within itself before the heal.
	if _, err := c.waitFor(ctx, time.Minute, "each side converged", func() bool {
		a, err1 := c.metric(0, "numax_version_vector")
		b, err2 := c.metric(1, "numax_version_vector")
		z, err3 := c.metric(2, "numax_version_vector")
		return err1 == nil && err2 == nil && err3 == nil && a == float64(2*ops) && b == a && z == float64(ops)
	}); err != nil {
		return err
	}
	// Divergent: what side {1,2} lacks plus what side {3} lacks.
	divergent := ops + 2*ops
	healed := time.Now()
	c.heal()
	linked, err := c.waitFor(ctx, time.Minute, "links back", c.allEqual("numax_peers_connected", 2))
	if err != nil {
		return err
	}
	converged, err := c.waitFor(ctx, 5*time.Minute, "all nodes converged", c.holdAll(float64(3*ops)))
	if err != nil {
		return err
	}
	r.Add("divergent ops at heal", float64(divergent), "ops", Info, "")
	r.Add("converged after heal", float64(converged.Sub(healed).Milliseconds()), "ms", Info, "<= 2000")
	r.Add("converged after the links came back", float64(converged.Sub(linked).Milliseconds()), "ms", Info, "")
	r.Add("convergence rate", float64(divergent)/math.Max(converged.Sub(healed).Seconds(), 1e-3), "ops/s", Throughput, "")
	r.Note("Three nodes on 127.0.0.1 linked through TCP proxies; node 3 is cut off from nodes 1 and 2 while every node "+
		"writes %d ops/s for %v (%d ops each), then the proxies heal. reconnect_max_delay is 500ms so the redial "+
		"backoff (default up to 30 s) does not dominate; 'after the links came back' excludes it.",
		p.PartitionRate, p.PartitionFor, ops)
	return c.stop()
}
