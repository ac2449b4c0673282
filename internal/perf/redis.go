package perf

import (
	"context"
	"encoding/csv"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/numax/numax/internal/freeport"
)

// RedisCompare runs the sync-3 counter workload (three writers, each
// making p.RedisOps increments, replicated to three nodes) on nx and on
// Redis (one primary and two replicas on 127.0.0.1, INCR from three
// clients with redis-benchmark) in the same run, and reports the ratio.
func RedisCompare(ctx context.Context, p Profile, r *Report, dir, nx, writer string) error {
	for _, tool := range []string{"redis-server", "redis-benchmark", "redis-cli"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("redis-compare needs %s on PATH (apt-get install -y redis-server)", tool)
		}
	}
	sub := &Report{}
	if err := SyncN(ctx, p, sub, filepath.Join(dir, "nx"), nx, writer, 3, p.RedisOps, "", 1000); err != nil {
		return err
	}
	nxRate := sub.Metrics[0].Value
	r.Add("nx: ops/s per node (3 nodes, each writing, all converged)", nxRate, "ops/s", Throughput, "")
	r.Add("nx: process start-up, share of the measured time", sub.Metrics[1].Value, "%", Info, "<= 5")

	ports := make([]string, 3)
	for i := range ports {
		a, err := freeport.Addr()
		if err != nil {
			return err
		}
		_, ports[i], _ = strings.Cut(a, ":")
	}
	var servers []*exec.Cmd
	defer func() {
		for _, s := range servers {
			_ = s.Process.Kill()
			_ = s.Wait()
		}
	}()
	for i, port := range ports {
		args := []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", dir, "--dbfilename", fmt.Sprintf("dump%d.rdb", i)}
		if i > 0 {
			args = append(args, "--replicaof", "127.0.0.1", ports[0])
		}
		s := exec.CommandContext(ctx, "redis-server", args...)
		if err := s.Start(); err != nil {
			return err
		}
		servers = append(servers, s)
	}
	cli := func(port string, args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, "redis-cli", append([]string{"-h", "127.0.0.1", "-p", port}, args...)...).Output()
		return strings.TrimSpace(string(out)), err
	}
	// Polled every 10 ms, as the report's note says.
	waitUntil := func(timeout time.Duration, what string, cond func() bool) (time.Time, error) {
		return poll(ctx, 10*time.Millisecond, timeout, "redis: "+what, func() (bool, error) { return cond(), nil })
	}
	if _, err := waitUntil(30*time.Second, "replicas linked", func() bool {
		for _, port := range ports[1:] {
			info, err := cli(port, "info", "replication")
			if err != nil || !strings.Contains(info, "master_link_status:up") {
				return false
			}
		}
		return true
	}); err != nil {
		return err
	}
	const key = "counter:__rand_int__" // redis-benchmark's INCR key without -r
	for _, pipeline := range []int{1, 32} {
		if _, err := cli(ports[0], "del", key); err != nil {
			return err
		}
		out, err := exec.CommandContext(ctx, "redis-benchmark", "-h", "127.0.0.1", "-p", ports[0], "-c", "3",
			"-n", fmt.Sprint(3*p.RedisOps), "-P", fmt.Sprint(pipeline), "-t", "incr", "--csv").Output()
		if err != nil {
			return fmt.Errorf("redis-benchmark: %v", err)
		}
		rows, err := csv.NewReader(strings.NewReader(string(out))).ReadAll()
		if err != nil || len(rows) < 2 || len(rows[1]) < 2 {
			return fmt.Errorf("redis-benchmark: unexpected output %q", out)
		}
		rps, err := strconv.ParseFloat(rows[1][1], 64)
		if err != nil {
			return fmt.Errorf("redis-benchmark: rps %q", rows[1][1])
		}
		done := time.Now()
		total, err := cli(ports[0], "get", key)
		if err != nil {
			return err
		}
		synced, err := waitUntil(time.Minute, "replicas caught up", func() bool {
			for _, port := range ports[1:] {
				if v, err := cli(port, "get", key); err != nil || v != total {
					return false
				}
			}
			return true
		})
		if err != nil {
			return err
		}
		name := "redis: INCR/s per client (3 clients, 1 primary + 2 replicas)"
		if pipeline > 1 {
			name = fmt.Sprintf("redis: INCR/s per client, pipeline %d", pipeline)
		}
		r.Add(name, rps/3, "ops/s", Info, "")
		r.Add(fmt.Sprintf("nx / redis (pipeline %d)", pipeline), nxRate/(rps/3), "x", Info, "")
		r.Add(fmt.Sprintf("redis replicas caught up after the load (pipeline %d)", pipeline),
			float64(synced.Sub(done).Milliseconds()), "ms", Info, "")
	}
	r.Note("The same counter workload: three writers making %d increments each. nx: one writer guest per node, each "+
		"node a separate process, every op replicated to all three nodes (sync = interval); the clock includes process "+
		"start-up. Redis %s: three redis-benchmark clients sending INCR to the primary over loopback TCP (no "+
		"persistence: --save \"\" --appendonly no), replicated asynchronously to two replicas; 'caught up' is polled with "+
		"redis-cli every 10 ms. Redis clients pay a network round trip per command (pipeline 1); pipelining 32 "+
		"amortizes it. nx's guest calls the host in-process, so the comparison is of the whole path a user's "+
		"counter takes, not of equal work.", p.RedisOps, redisVersion(ctx))
	return nil
}

func redisVersion(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "redis-server", "--version").Output()
	if err != nil {
		return "(version unknown)"
	}
	for _, f := range strings.Fields(string(out)) {
		if v, ok := strings.CutPrefix(f, "v="); ok {
			return v
		}
	}
	return strings.TrimSpace(string(out))
}
