package perf

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/numax/numax/internal/freeport"
	"github.com/numax/numax/internal/tcpproxy"
)

// cluster is n nx processes on 127.0.0.1 running one guest, each peering
// with every other, either directly or through a cuttable proxy per
// ordered pair (proxied), so scenarios can partition, kill and restart
// nodes. Nodes keep serving after their guest returns, until stop.
type cluster struct {
	nx, guest, dir string
	n              int
	listen, obs    []string
	// gossip[i] is node i's memberlist address (opts.gossip); node 0 is
	// every other node's seed.
	gossip []string
	pki    string // CA and node certificates (opts.gossip)
	// proxies[i][j] carries node i's link to node j (nil when direct or i == j).
	proxies [][]*tcpproxy.Proxy
	opts    clusterOpts
	extra   []string
	nodes   []*node
	starts  int // processes started, numbering the CPU profiles
}

// node is one incarnation of an nx process.
type node struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	acked uint64    // last "ok N" the writer printed
	ranAt time.Time // when its guest's run returned ("serving until")
	// stderr keeps the last lines, for error reports.
	stderr   bytes.Buffer
	finished chan struct{} // closed once stdout and stderr are drained
}

// clusterOpts are a cluster's settings.
type clusterOpts struct {
	proxied      bool   // links through cuttable proxies
	sync         string // [storage] sync ("" = default, interval)
	reconnectMax string // [limits] reconnect_max_delay ("" = default, 30s)
	// gossip runs [discovery] mode = "gossip" over mTLS (certificates from
	// nx cert), every node joining through node 0, instead of a plain-TCP
	// full mesh.
	gossip bool
	// tls runs the links over mTLS with certificates from nx cert (gossip
	// implies it).
	tls bool
	// profiles, if set, is where each started node writes its CPU and
	// heap profiles.
	profiles string
}

func newCluster(nx, guest, dir string, n int, opts clusterOpts, extra ...string) (*cluster, error) {
	c := &cluster{nx: nx, guest: guest, dir: dir, n: n, listen: make([]string, n), obs: make([]string, n),
		nodes: make([]*node, n), opts: opts, extra: extra}
	proxied := opts.proxied
	for i := 0; i < n; i++ {
		var err error
		if c.listen[i], err = freeport.Addr(); err != nil {
			return nil, err
		}
		if c.obs[i], err = freeport.Addr(); err != nil {
			return nil, err
		}
	}
	if opts.gossip || opts.tls {
		if err := c.makePKI(); err != nil {
			return nil, err
		}
	}
	if proxied {
		c.proxies = make([][]*tcpproxy.Proxy, n)
		for i := range c.proxies {
			c.proxies[i] = make([]*tcpproxy.Proxy, n)
			for j := 0; j < n; j++ {
				if i == j {
					continue
				}
				p, err := tcpproxy.New(c.listen[j])
				if err != nil {
					c.stop()
					return nil, err
				}
				c.proxies[i][j] = p
			}
		}
	}
	return c, nil
}

// makePKI makes the gossip addresses, a cluster CA and one certificate
// per node with nx cert.
func (c *cluster) makePKI() error {
	c.pki = filepath.Join(c.dir, "pki")
	c.gossip = make([]string, c.n)
	if out, err := exec.Command(c.nx, "cert", "ca", "--dir", c.pki).CombinedOutput(); err != nil {
		return fmt.Errorf("nx cert ca: %v\n%s", err, out)
	}
	for i := range c.gossip {
		var err error
		if c.gossip[i], err = freeport.Addr(); err != nil {
			return err
		}
		name := fmt.Sprint("n", i+1)
		if out, err := exec.Command(c.nx, "cert", "node", name, "--ca-dir", c.pki, "--dir", c.pki).CombinedOutput(); err != nil {
			return fmt.Errorf("nx cert node %s: %v\n%s", name, err, out)
		}
	}
	return nil
}

// start launches node i (again, after a kill) with env added.
func (c *cluster) start(ctx context.Context, i int, env ...string) error {
	dir := filepath.Join(c.dir, fmt.Sprint("n", i+1))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	args := []string{"run", c.guest, "--datastore-path", filepath.Join(dir, "data"), "--listen", c.listen[i],
		"--observability-listen", c.obs[i], "--log-level", "info"}
	if c.opts.gossip || c.opts.tls {
		name := filepath.Join(c.pki, fmt.Sprint("n", i+1))
		args = append(args, "--tls-cert", name+".crt", "--tls-key", name+".key", "--tls-ca", filepath.Join(c.pki, "ca.crt"))
	}
	if c.opts.gossip {
		args = append(args, "--discovery", "gossip", "--gossip-listen", c.gossip[i])
		if i > 0 {
			args = append(args, "--seed", c.gossip[0])
		}
	} else if !c.opts.tls {
		args = append(args, "--tls-insecure")
	}
	// Writers run for minutes: no invocation time limit (default 30 s).
	toml := "[limits]\nguest_timeout = \"0s\"\n"
	if c.opts.reconnectMax != "" {
		toml += fmt.Sprintf("reconnect_max_delay = %q\n", c.opts.reconnectMax)
	}
	toml += "[storage]\n"
	if c.opts.sync != "" {
		toml += fmt.Sprintf("sync = %q\n", c.opts.sync)
	}
	if c.opts.gossip {
		// Tens of processes start at once: compile the guest once.
		toml += fmt.Sprintf("compile_cache = %q\n", filepath.Join(c.dir, "compile-cache"))
	}
	cfg := filepath.Join(dir, "nx.toml")
	if err := os.WriteFile(cfg, []byte(toml), 0o644); err != nil {
		return err
	}
	args = append(args, "--config", cfg)
	for j := 0; j < c.n; j++ {
		switch {
		case j == i, c.opts.gossip:
		case c.proxies != nil:
			args = append(args, "--peer", c.proxies[i][j].Addr)
		default:
			args = append(args, "--peer", c.listen[j])
		}
	}
	if c.opts.profiles != "" {
		c.starts++
		// The cluster's directory names it (e.g. sync-3-123/max).
		name := strings.ReplaceAll(strings.TrimPrefix(c.dir, os.TempDir()+string(filepath.Separator)), string(filepath.Separator), "_")
		base := filepath.Join(c.opts.profiles, fmt.Sprintf("%s_n%d_%d", name, i+1, c.starts))
		args = append(args, "--cpu-profile", base+".cpu.prof", "--mem-profile", base+".heap.prof")
	}
	args = append(args, c.extra...)
	nd := &node{cmd: exec.CommandContext(ctx, c.nx, args...), finished: make(chan struct{})}
	nd.cmd.Env = append(os.Environ(), env...)
	stdout, err := nd.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := nd.cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := nd.cmd.Start(); err != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "ok "); ok {
				if k, err := strconv.ParseUint(v, 10, 64); err == nil {
					nd.mu.Lock()
					nd.acked = k
					nd.mu.Unlock()
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			nd.mu.Lock()
			if nd.stderr.Len() > 64<<10 {
				nd.stderr.Next(32 << 10)
			}
			nd.stderr.WriteString(sc.Text() + "\n")
			if nd.ranAt.IsZero() && strings.Contains(sc.Text(), "serving until") {
				nd.ranAt = time.Now()
			}
			nd.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	go func() { wg.Wait(); close(nd.finished) }()
	c.nodes[i] = nd
	return nil
}

// exited returns an error with node i's last log lines if it has exited.
func (c *cluster) exited(i int) error {
	nd := c.nodes[i]
	if nd == nil {
		return nil
	}
	select {
	case <-nd.finished:
		nd.mu.Lock()
		tail := nd.stderr.String()
		nd.mu.Unlock()
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		err := nd.cmd.Wait()
		return fmt.Errorf("node %d exited (%v):\n%s", i+1, err, tail)
	default:
		return nil
	}
}

// kill SIGKILLs node i and reaps it; it returns the writer's last ack.
func (c *cluster) kill(i int) uint64 {
	nd := c.nodes[i]
	_ = nd.cmd.Process.Signal(syscall.SIGKILL)
	<-nd.finished
	_ = nd.cmd.Wait()
	c.nodes[i] = nil
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.acked
}

func (nd *node) ackedOps() uint64 { nd.mu.Lock(); defer nd.mu.Unlock(); return nd.acked }

// stop SIGTERMs every running node, waits for them (SIGKILL after 30 s)
// and closes the proxies. It returns an error naming a node that did not
// exit cleanly.
func (c *cluster) stop() error {
	for _, nd := range c.nodes {
		if nd != nil {
			_ = nd.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	var errs []error
	for i, nd := range c.nodes {
		if nd == nil {
			continue
		}
		select {
		case <-nd.finished:
		case <-time.After(30 * time.Second):
			_ = nd.cmd.Process.Kill()
			errs = append(errs, fmt.Errorf("node %d: no exit 30 s after SIGTERM", i+1))
		}
		if err := nd.cmd.Wait(); err != nil {
			nd.mu.Lock()
			errs = append(errs, fmt.Errorf("node %d: %v\n%s", i+1, err, nd.stderr.String()))
			nd.mu.Unlock()
		}
		c.nodes[i] = nil
	}
	for _, row := range c.proxies {
		for _, p := range row {
			if p != nil {
				p.Close()
			}
		}
	}
	return errors.Join(errs...)
}

// cut partitions the nodes of side from the others; heal undoes it.
func (c *cluster) cut(side ...int) { c.setCut(true, side) }
func (c *cluster) heal()           { c.setCut(false, nil) }

func (c *cluster) setCut(cut bool, side []int) {
	in := map[int]bool{}
	for _, s := range side {
		in[s] = true
	}
	for i := range c.proxies {
		for j, p := range c.proxies[i] {
			switch {
			case p == nil:
			case !cut:
				p.Heal()
			case in[i] != in[j]:
				p.Cut()
			}
		}
	}
}

// scrapeClient reads the nodes' metrics pages. Uncompressed: the harness
// polls every 20 ms, and gzip on every poll was the measured nodes' work
// (1.5-3.7 % of a sync-3 node's CPU went to serving the page).
var scrapeClient = &http.Client{Timeout: 5 * time.Second,
	Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4}}

// scrape reads node i's /metrics.
func (c *cluster) scrape(i int) (map[string]*dto.MetricFamily, error) {
	resp, err := scrapeClient.Get("http://" + c.obs[i] + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// value is the sum of a family's counter, gauge or untyped values.
func value(mf map[string]*dto.MetricFamily, name string) float64 {
	f, ok := mf[name]
	if !ok {
		return math.NaN()
	}
	var v float64
	for _, m := range f.GetMetric() {
		switch {
		case m.Counter != nil:
			v += m.Counter.GetValue()
		case m.Gauge != nil:
			v += m.Gauge.GetValue()
		case m.Untyped != nil:
			v += m.Untyped.GetValue()
		}
	}
	return v
}

// metric reads one value from node i.
func (c *cluster) metric(i int, name string) (float64, error) {
	mf, err := c.scrape(i)
	if err != nil {
		return 0, err
	}
	v := value(mf, name)
	if math.IsNaN(v) {
		return 0, fmt.Errorf("node %d: %s missing", i+1, name)
	}
	return v, nil
}

// poll checks cond every interval until it holds (returning when), it
// fails, the timeout passes or ctx ends.
func poll(ctx context.Context, every, timeout time.Duration, what string, cond func() (bool, error)) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return time.Time{}, fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%s: not reached within %v", what, timeout)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(every):
		}
	}
}

// waitFor polls cond every 20 ms until it holds, a node exits, or the
// timeout passes; it returns when cond first held.
func (c *cluster) waitFor(ctx context.Context, timeout time.Duration, what string, cond func() bool) (time.Time, error) {
	return poll(ctx, 20*time.Millisecond, timeout, what, func() (bool, error) {
		if cond() {
			return true, nil
		}
		var errs []error
		for i := range c.nodes {
			if err := c.exited(i); err != nil {
				errs = append(errs, err)
			}
		}
		return false, errors.Join(errs...)
	})
}

// scrapeAll scrapes every running node once, all at the same time; a
// node that does not answer is an error.
func (c *cluster) scrapeAll() ([]map[string]*dto.MetricFamily, []time.Time, error) {
	out := make([]map[string]*dto.MetricFamily, c.n)
	at := make([]time.Time, c.n)
	errs := make([]error, c.n)
	var wg sync.WaitGroup
	for i, nd := range c.nodes {
		if nd == nil {
			continue
		}
		wg.Go(func() {
			mf, err := c.scrape(i)
			if err != nil {
				errs[i] = fmt.Errorf("node %d: %w", i+1, err)
				return
			}
			out[i], at[i] = mf, time.Now()
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	return out, at, nil
}

// allEqual holds when every running node reports want for the metric.
func (c *cluster) allEqual(name string, want float64) func() bool {
	return func() bool {
		mfs, _, err := c.scrapeAll()
		if err != nil {
			return false
		}
		for i, mf := range mfs {
			if c.nodes[i] != nil && value(mf, name) != want {
				return false
			}
		}
		return true
	}
}

// holdAll holds when every node's numax_version_vector sums to want and
// all are equal: each holds exactly the same want ops, whether they came
// as ops or in a snapshot (which numax_ops_total does not count).
func (c *cluster) holdAll(want float64) func() bool {
	return func() bool {
		total, same := c.commonVV()
		return same && total == want
	}
}

// sameVV holds when every running node reports the same non-empty
// numax_version_vector: each holds exactly the same ops.
func (c *cluster) sameVV() bool {
	_, same := c.commonVV()
	return same
}

// commonVV scrapes every node's numax_version_vector once: same says they
// are all equal and non-empty, total is the sum of its sequence numbers.
func (c *cluster) commonVV() (total float64, same bool) {
	var first string
	for i, nd := range c.nodes {
		if nd == nil {
			return 0, false
		}
		mf, err := c.scrape(i)
		if err != nil {
			return 0, false
		}
		var vv []string
		total = 0
		for _, m := range mf["numax_version_vector"].GetMetric() {
			vv = append(vv, fmt.Sprintf("%s=%v", m.GetLabel()[0].GetValue(), m.GetGauge().GetValue()))
			total += m.GetGauge().GetValue()
		}
		sort.Strings(vv)
		s := strings.Join(vv, ",")
		if s == "" || (i > 0 && s != first) {
			return 0, false
		}
		first = s
	}
	return total, true
}

// lastRun is when the last node's guest returned (zero if one has not).
func (c *cluster) lastRun() time.Time {
	var last time.Time
	for _, nd := range c.nodes {
		if nd == nil {
			continue
		}
		nd.mu.Lock()
		at := nd.ranAt
		nd.mu.Unlock()
		if at.IsZero() {
			return time.Time{}
		}
		if at.After(last) {
			last = at
		}
	}
	return last
}

// histogram is cumulative bucket counts by upper bound.
type histogram map[float64]uint64

// delays sums numax_replication_delay_seconds over every running node.
func (c *cluster) delays() (histogram, error) {
	h := histogram{}
	for i, nd := range c.nodes {
		if nd == nil {
			continue
		}
		mf, err := c.scrape(i)
		if err != nil {
			return nil, err
		}
		if _, ok := mf["numax_replication_delay_seconds"]; !ok {
			return nil, fmt.Errorf("node %d: numax_replication_delay_seconds missing", i+1)
		}
		for b, v := range delayHist(mf) {
			h[b] += v
		}
	}
	return h, nil
}

// count is the number of observations.
func (h histogram) count() uint64 { return h[math.Inf(1)] }

// quantile estimates the q-quantile by linear interpolation inside the
// bucket that holds it (as Prometheus' histogram_quantile does).
func (h histogram) quantile(q float64) float64 {
	bounds := make([]float64, 0, len(h))
	for b := range h {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	total := float64(h.count())
	if total == 0 {
		return math.NaN()
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for _, b := range bounds {
		n := float64(h[b])
		if n >= rank {
			if math.IsInf(b, 1) {
				return lower // above the last finite bucket: its bound
			}
			if n == below {
				return b
			}
			return lower + (b-lower)*(rank-below)/(n-below)
		}
		lower, below = b, n
	}
	return lower
}

// rssBytes is a process's resident set; peak is its high-water mark.
func rssBytes(pid int) (rss, peak float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	read := func(l, key string) (float64, bool) {
		v, ok := strings.CutPrefix(l, key)
		if !ok {
			return 0, false
		}
		kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
		return kb * 1024, true
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := read(l, "VmRSS:"); ok {
			rss = v
		}
		if v, ok := read(l, "VmHWM:"); ok {
			peak = v
		}
	}
	return rss, peak
}

// inspect runs `nx inspect ARGS` on node i's (stopped) datastore.
func (c *cluster) inspect(ctx context.Context, i int, args ...string) (string, error) {
	all := append([]string{"inspect", "--datastore-path", filepath.Join(c.dir, fmt.Sprint("n", i+1), "data")}, args...)
	out, err := exec.CommandContext(ctx, c.nx, all...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("nx %s: %v: %s", strings.Join(all, " "), err, out)
	}
	return string(out), nil
}

// counters reads every GCounter of node i's stopped datastore.
func (c *cluster) counters(ctx context.Context, i int) (map[string]uint64, error) {
	list, err := c.inspect(ctx, i, "crdt", "list")
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for _, l := range strings.Split(strings.TrimSpace(list), "\n") {
		typ, key, ok := strings.Cut(l, " ")
		if !ok || typ != "gcounter" {
			continue
		}
		v, err := c.inspect(ctx, i, "crdt", "get", "gcounter", key)
		if err != nil {
			return nil, err
		}
		_, num, _ := strings.Cut(strings.TrimSpace(v), " = ")
		if out[key], err = strconv.ParseUint(num, 10, 64); err != nil {
			return nil, fmt.Errorf("node %d: gcounter %s: %q", i+1, key, v)
		}
	}
	return out, nil
}

// linkKind names how the cluster's links run, for reports.
func (c *cluster) linkKind() string {
	if c.opts.gossip || c.opts.tls {
		return "mTLS"
	}
	return "plain TCP"
}

// outputAndPeak runs cmd, returning its stdout and its peak RSS read from
// /proc (VmHWM, polled every 5 ms until it exits). The child's rusage is
// not used: on Linux its ru_maxrss counts the memory of the process that
// started it, which it shared until exec.
func outputAndPeak(cmd *exec.Cmd) ([]byte, float64, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var peak float64
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		if _, p := rssBytes(cmd.Process.Pid); p > peak {
			peak = p
		}
		select {
		case err := <-done:
			if err != nil {
				return stdout.Bytes(), peak, fmt.Errorf("%v\n%s", err, stderr.String())
			}
			return stdout.Bytes(), peak, nil
		case <-t.C:
		}
	}
}
