package perf

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Gossip runs gossipN for each of p.GossipSizes: nx processes in
// [discovery] mode "gossip" over mTLS on 127.0.0.1, each knowing only the
// seed (node 1).
func Gossip(ctx context.Context, p Profile, r *Report, dir, nx, writer string) error {
	for _, n := range p.GossipSizes {
		if err := gossipN(ctx, p, r, filepath.Join(dir, fmt.Sprint(n)), nx, writer, n); err != nil {
			return fmt.Errorf("%d nodes: %w", n, err)
		}
	}
	r.Note("Each size: n-1 nx processes in gossip mode over mTLS join through node 1 (their only seed) and idle; "+
		"then node n starts and writes %d ops/s for %.0f s. \"Known by all\" is from node n's launch (so it includes "+
		"its start-up) until every node's numax_discovery_members is n. Write-to-apply per delivery is the nodes' "+
		"numax_replication_delay_seconds histograms over the writes made after the join (HLC wall time on the "+
		"origin to apply; exact to the ms bucket). \"Visible on all\" polls every node's numax_version_vector for "+
		"node n's origin in rounds; an op counts as visible on all in the first round in which every node holds it, "+
		"so it is quantized by the round time, reported alongside. Messages per op: PushOps messages "+
		"(numax_broadcast_batches_total) and op copies received (numax_remote_ops_received_total; n-1 would be "+
		"no duplicate) summed over all nodes, per op written in the window; membership traffic is not counted. "+
		"Relay tree: announcements to lazy peers (numax_relay_tree_haves_total) per op written and grafts (numax_relay_tree_grafts_total), all nodes, same window. "+
		"Failure: node n is SIGKILLed; detection is until every other node's numax_discovery_members is n-1.",
		p.GossipRate, p.GossipSeconds)
	return nil
}

// vvOf is node mf's numax_version_vector entry for origin (0 if absent).
func vvOf(mf map[string]*dto.MetricFamily, origin string) float64 {
	for _, m := range mf["numax_version_vector"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "origin" && l.GetValue() == origin {
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

// ownOrigin is the origin node mf writes as: the only entry of its
// version vector when it alone has written (the writer node, in gossipN).
func ownOrigin(mf map[string]*dto.MetricFamily) (string, float64) {
	var origin string
	var best float64
	for _, m := range mf["numax_version_vector"].GetMetric() {
		if v := m.GetGauge().GetValue(); v > best {
			best = v
			for _, l := range m.GetLabel() {
				if l.GetName() == "origin" {
					origin = l.GetValue()
				}
			}
		}
	}
	return origin, best
}

func gossipN(ctx context.Context, p Profile, r *Report, dir, nx, writer string, n int) error {
	c, err := newCluster(nx, writer, dir, n, clusterOpts{gossip: true, profiles: p.NodeProfiles})
	if err != nil {
		return err
	}
	defer c.stop()
	last := n - 1

	// Formation: n-1 idle nodes join through node 1.
	for i := 0; i < last; i++ {
		if err := c.start(ctx, i, "NX_OPS=0"); err != nil {
			return err
		}
	}
	if _, err := c.waitFor(ctx, 3*time.Minute, fmt.Sprintf("%d members known by each of the first %d nodes", last, last),
		c.allEqual("numax_discovery_members", float64(last))); err != nil {
		return err
	}

	// Join: node n starts writing at once; every node must learn it.
	ops := int(float64(p.GossipRate) * p.GossipSeconds)
	launched := time.Now()
	if err := c.start(ctx, last, fmt.Sprintf("NX_OPS=%d", ops), fmt.Sprintf("NX_RATE=%d", p.GossipRate)); err != nil {
		return err
	}
	joined, err := c.waitFor(ctx, time.Minute, fmt.Sprintf("node %d known by all %d", n, n), c.allEqual("numax_discovery_members", float64(n)))
	if err != nil {
		return err
	}
	r.Add(fmt.Sprintf("N=%d: new member known by all (from its launch)", n), float64(joined.Sub(launched).Milliseconds()), "ms", Info, "")

	// Dissemination: from here to the writer's end, poll version vectors.
	before, _, err := c.scrapeAll()
	if err != nil {
		return err
	}
	origin, startSeq := ownOrigin(before[last])
	type round struct {
		at  []time.Time
		seq []float64
	}
	var rounds []round
	var roundTime time.Duration
	pollStart := time.Now()
	deadline := time.Now().Add(time.Duration(p.GossipSeconds*float64(time.Second)) + 2*time.Minute)
	for {
		mfs, at, err := c.scrapeAll()
		if err != nil {
			return err
		}
		if origin == "" {
			origin, startSeq = ownOrigin(mfs[last])
		}
		rd := round{at: at, seq: make([]float64, n)}
		done := origin != ""
		for i, mf := range mfs {
			rd.seq[i] = vvOf(mf, origin)
			done = done && rd.seq[i] == float64(ops)
		}
		rounds = append(rounds, rd)
		if done {
			break
		}
		if err := c.exited(last); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %d's %d writes not on every node within %v (last round: %v)", n, ops, time.Until(deadline), rd.seq)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	roundTime = time.Since(pollStart) / time.Duration(len(rounds))
	// Each seq's first round with the writer holding it, and with all.
	var visible []float64
	for s := startSeq + 1; s <= float64(ops); s++ {
		var written, all time.Time
		for _, rd := range rounds {
			if written.IsZero() && rd.seq[last] >= s {
				written = rd.at[last]
			}
			ok := true
			var latest time.Time
			for i := range rd.seq {
				ok = ok && rd.seq[i] >= s
				if rd.at[i].After(latest) {
					latest = rd.at[i]
				}
			}
			if ok {
				all = latest
				break
			}
		}
		if !written.IsZero() && !all.IsZero() {
			visible = append(visible, all.Sub(written).Seconds())
		}
	}
	after, _, err := c.scrapeAll()
	if err != nil {
		return err
	}
	written := float64(ops) - startSeq
	h := histogram{}
	var batches, copies, haves, grafts float64
	for i := range after {
		hd := delayHist(after[i])
		hb := delayHist(before[i])
		for b, v := range hd {
			h[b] += v - hb[b]
		}
		batches += value(after[i], "numax_broadcast_batches_total") - value(before[i], "numax_broadcast_batches_total")
		copies += value(after[i], "numax_remote_ops_received_total") - value(before[i], "numax_remote_ops_received_total")
		haves += value(after[i], "numax_relay_tree_haves_total") - value(before[i], "numax_relay_tree_haves_total")
		grafts += value(after[i], "numax_relay_tree_grafts_total") - value(before[i], "numax_relay_tree_grafts_total")
	}
	if written <= 0 || h.count() == 0 || len(visible) == 0 {
		return fmt.Errorf("no writes measured after the join (writer at %v of %d when node %d was known by all)", startSeq, ops, n)
	}
	r.Add(fmt.Sprintf("N=%d: write to apply, per delivery, p50", n), 1000*h.quantile(0.50), "ms", Info, "")
	r.Add(fmt.Sprintf("N=%d: write to apply, per delivery, p99", n), 1000*h.quantile(0.99), "ms", Info, "")
	slices.Sort(visible)
	q := func(f float64) float64 {
		return visible[min(len(visible)-1, int(math.Ceil(f*float64(len(visible))))-1)]
	}
	target := ""
	if n >= 32 {
		target = "<= 1000"
	}
	r.Add(fmt.Sprintf("N=%d: write visible on all, p50", n), 1000*q(0.50), "ms", Info, "")
	r.Add(fmt.Sprintf("N=%d: write visible on all, p99", n), 1000*q(0.99), "ms", Info, target)
	r.Add(fmt.Sprintf("N=%d: polling round (resolution of visible on all)", n), float64(roundTime.Milliseconds()), "ms", Info, "")
	r.Add(fmt.Sprintf("N=%d: PushOps messages per op", n), batches/written, "msgs", Info, "")
	copiesTarget := ""
	if n >= 32 {
		copiesTarget = fmt.Sprintf("<= %g", 1.5*float64(n-1)) // issue 18: lazy push
	}
	r.Add(fmt.Sprintf("N=%d: op copies received per op (n-1 = %d is none wasted)", n, n-1), copies/written, "copies", Info, copiesTarget)
	r.Add(fmt.Sprintf("N=%d: relay tree announcements (Ack with have) per op", n), haves/written, "msgs", Info, "")
	r.Add(fmt.Sprintf("N=%d: relay tree grafts in the window", n), grafts, "grafts", Info, "")

	// Hard failure: SIGKILL node n; every other node must drop it.
	killed := time.Now()
	c.kill(last)
	var first time.Time
	seen, err := c.waitFor(ctx, time.Minute, fmt.Sprintf("node %d's failure seen by all", n), func() bool {
		mfs, at, err := c.scrapeAll()
		if err != nil {
			return false
		}
		all := true
		for i := 0; i < last; i++ {
			if value(mfs[i], "numax_discovery_members") != float64(last) {
				all = false
			} else if first.IsZero() || at[i].Before(first) {
				first = at[i]
			}
		}
		return all
	})
	if err != nil {
		return err
	}
	r.Add(fmt.Sprintf("N=%d: hard failure seen by a first node", n), float64(first.Sub(killed).Milliseconds()), "ms", Info, "")
	r.Add(fmt.Sprintf("N=%d: hard failure seen by all", n), float64(seen.Sub(killed).Milliseconds()), "ms", Info, "<= 3000")
	return c.stop()
}

// delayHist is one node's numax_replication_delay_seconds, cumulative.
func delayHist(mf map[string]*dto.MetricFamily) histogram {
	h := histogram{}
	for _, m := range mf["numax_replication_delay_seconds"].GetMetric() {
		for _, b := range m.GetHistogram().GetBucket() {
			if !math.IsInf(b.GetUpperBound(), 1) {
				h[b.GetUpperBound()] += b.GetCumulativeCount()
			}
		}
		h[math.Inf(1)] += m.GetHistogram().GetSampleCount()
	}
	return h
}
