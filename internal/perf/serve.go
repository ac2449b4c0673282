package perf

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ServeGuests are the modules the serve scenario runs: a trivial C handler,
// the same in Go (serve.Serve), and a replicated counter with POST /hit and
// an on_change that publishes the total (testdata/guests/counter.c).
type ServeGuests struct {
	C, Go, Counter string
}

// BareHTTPArg makes nx-bench serve the baseline: a bare net/http handler
// answering 200 "ok", in a process of its own like the node.
const BareHTTPArg = "__bare-http"

// BareHTTP serves the baseline on addr until the process is killed.
func BareHTTP(addr string) error {
	return http.ListenAndServe(addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
}

// proc is one process the scenario started.
type proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr strings.Builder
}

func startProc(ctx context.Context, name string, env []string, args ...string) (*proc, error) {
	p := &proc{cmd: exec.CommandContext(ctx, name, args...)}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = io.Discard
	pipe, err := p.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			p.mu.Lock()
			if p.stderr.Len() < 64<<10 {
				p.stderr.WriteString(sc.Text() + "\n")
			}
			p.mu.Unlock()
		}
	}()
	return p, nil
}

func (p *proc) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

func (p *proc) lastLines() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stderr.String()
	if len(s) > 2000 {
		s = s[len(s)-2000:]
	}
	return s
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitHTTP polls url until it answers 200.
func waitHTTP(ctx context.Context, url string, p *proc) error {
	_, err := poll(ctx, 20*time.Millisecond, time.Minute, url, func() (bool, error) {
		if p != nil && p.cmd.ProcessState != nil {
			return false, fmt.Errorf("exited:\n%s", p.lastLines())
		}
		r, err := http.Get(url)
		if err != nil {
			return false, nil
		}
		r.Body.Close()
		return r.StatusCode == 200, nil
	})
	return err
}

// loadResult is one closed-loop load run.
type loadResult struct {
	ok, failed int
	lat        []time.Duration
	secs       float64
}

func (l loadResult) rate() float64 { return float64(l.ok) / l.secs }

// load sends requests from conns keep-alive connections, each waiting for
// its answer before the next, for d (and at most maxReqs in all).
func load(ctx context.Context, method, url string, conns int, d time.Duration, maxReqs int64) loadResult {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var sent atomic.Int64
	var mu sync.Mutex
	res := loadResult{}
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			ok, failed := 0, 0
			for time.Now().Before(deadline) && ctx.Err() == nil && sent.Add(1) <= maxReqs {
				req, _ := http.NewRequestWithContext(ctx, method, url, nil)
				t0 := time.Now()
				r, err := client.Do(req)
				if err != nil {
					failed++
					continue
				}
				_, _ = io.Copy(io.Discard, r.Body)
				r.Body.Close()
				if r.StatusCode == 200 {
					ok++
					lat = append(lat, time.Since(t0))
				} else {
					failed++
				}
			}
			mu.Lock()
			res.ok += ok
			res.failed += failed
			res.lat = append(res.lat, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.secs = time.Since(start).Seconds()
	slices.Sort(res.lat)
	return res
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func pct(l []time.Duration, q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	return l[int(q*float64(len(l)-1))]
}

// Serve measures serving on the path a user runs: real nx processes with
// default settings, real sockets, a Go load generator in the same process
// tree, and a bare net/http handler measured in the same run as the
// baseline.
func Serve(ctx context.Context, p Profile, r *Report, dir, nx string, g ServeGuests) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	d := p.ServeFor
	warm := func(url string) { load(ctx, "GET", url, p.ServeConns, 300*time.Millisecond, 1<<62) }

	// 1. The bare baseline.
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	bare, err := startProc(ctx, self, nil, BareHTTPArg, addr)
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, "http://"+addr+"/", bare); err != nil {
		bare.stop()
		return err
	}
	warm("http://" + addr + "/")
	base := load(ctx, "GET", "http://"+addr+"/", p.ServeConns, d, 1<<62)
	bare.stop()
	r.Add("bare net/http: requests/s", base.rate(), "req/s", Info, "")
	r.Add("bare net/http: p50", ms(pct(base.lat, 0.5)), "ms", Info, "")
	r.Add("bare net/http: p99", ms(pct(base.lat, 0.99)), "ms", Info, "")

	// 2. The trivial handler in C and in Go, through nx run --http.
	for _, h := range []struct {
		name, wasm, ratioTarget, rateTarget string
	}{{"C handler", g.C, ">= 0.5", ">= 20000"}, {"Go handler (serve.Serve)", g.Go, ">= 0.3", ""}} {
		res, rss, err := serveOnce(ctx, nx, dir, h.wasm, p, nil)
		if err != nil {
			return fmt.Errorf("%s: %w", h.name, err)
		}
		r.Add(h.name+": requests/s", res.rate(), "req/s", Throughput, h.rateTarget)
		r.Add(h.name+": p50", ms(pct(res.lat, 0.5)), "ms", Info, "")
		r.Add(h.name+": p99", ms(pct(res.lat, 0.99)), "ms", Latency, "")
		r.Add(h.name+": ratio to bare net/http", res.rate()/base.rate(), "ratio", Info, h.ratioTarget)
		r.Add(h.name+": failed requests", float64(res.failed), "count", Info, "")
		r.Add(h.name+": node RSS after load", rss/1e6, "MB", Info, "")
	}

	// 3. Memory: a Go service with 2 instances, and per extra instance.
	rss2, err := idleRSS(ctx, nx, dir, g.Go, 2)
	if err != nil {
		return err
	}
	rss6, err := idleRSS(ctx, nx, dir, g.Go, 6)
	if err != nil {
		return err
	}
	r.Add("Go service RSS, 2 instances", rss2/1e6, "MB", Info, "")
	r.Add("Go service RSS per extra instance", (rss6-rss2)/4/1e6, "MB", Info, "")

	// 4. POST /hit on three nodes, all serving, then convergence.
	if err := serveHits(ctx, p, r, dir, nx, g.Counter); err != nil {
		return err
	}
	// 5. A write on node 1 to the event at a client of node 3.
	return serveLatency(ctx, p, r, dir, nx, g.Counter)
}

func nodeArgs(nx, dir, wasm, httpAddr string, extra ...string) []string {
	return append([]string{"run", wasm, "--datastore-path", dir, "--http", httpAddr, "--log-level", "warn"}, extra...)
}

func serveOnce(ctx context.Context, nx, dir, wasm string, p Profile, env []string) (loadResult, float64, error) {
	addr, err := freeAddr()
	if err != nil {
		return loadResult{}, 0, err
	}
	nd, err := os.MkdirTemp(dir, "node-")
	if err != nil {
		return loadResult{}, 0, err
	}
	node, err := startProc(ctx, nx, env, nodeArgs(nx, nd, wasm, addr)...)
	if err != nil {
		return loadResult{}, 0, err
	}
	defer node.stop()
	url := "http://" + addr + "/x"
	if err := waitHTTP(ctx, "http://"+addr+"/_nx/health", node); err != nil {
		return loadResult{}, 0, err
	}
	load(ctx, "GET", url, p.ServeConns, 300*time.Millisecond, 1<<62)
	res := load(ctx, "GET", url, p.ServeConns, p.ServeFor, 1<<62)
	rss, _ := rssBytes(node.cmd.Process.Pid)
	return res, rss, nil
}

func idleRSS(ctx context.Context, nx, dir, wasm string, instances int) (float64, error) {
	addr, err := freeAddr()
	if err != nil {
		return 0, err
	}
	nd, err := os.MkdirTemp(dir, "node-")
	if err != nil {
		return 0, err
	}
	node, err := startProc(ctx, nx, []string{"NX_SERVE_INSTANCES=" + strconv.Itoa(instances)}, nodeArgs(nx, nd, wasm, addr)...)
	if err != nil {
		return 0, err
	}
	defer node.stop()
	if err := waitHTTP(ctx, "http://"+addr+"/_nx/health", node); err != nil {
		return 0, err
	}
	// Use every instance once, then let the node settle.
	load(ctx, "GET", "http://"+addr+"/x", 2*instances, 500*time.Millisecond, 1<<62)
	time.Sleep(500 * time.Millisecond)
	rss, _ := rssBytes(node.cmd.Process.Pid)
	return rss, nil
}

// serviceCluster starts n nodes of wasm, each serving HTTP and linked to
// every other (plain TCP links: the figure is about serving).
func serviceCluster(ctx context.Context, dir, nx, wasm string, n int) ([]*proc, []string, error) {
	var links, https []string
	for range n {
		a, err := freeAddr()
		if err != nil {
			return nil, nil, err
		}
		b, err := freeAddr()
		if err != nil {
			return nil, nil, err
		}
		links, https = append(links, a), append(https, b)
	}
	var procs []*proc
	for i := range n {
		extra := []string{"--listen", links[i], "--tls-insecure"}
		for j := range i {
			extra = append(extra, "--peer", links[j])
		}
		nd := filepath.Join(dir, fmt.Sprint("svc", i+1))
		p, err := startProc(ctx, nx, nil, nodeArgs(nx, nd, wasm, https[i], extra...)...)
		if err != nil {
			return procs, nil, err
		}
		procs = append(procs, p)
	}
	for i, h := range https {
		if err := waitHTTP(ctx, "http://"+h+"/_nx/health", procs[i]); err != nil {
			return procs, nil, err
		}
	}
	return procs, https, nil
}

func getCount(url string) (int, error) {
	r, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func serveHits(ctx context.Context, p Profile, r *Report, dir, nx, wasm string) error {
	return withServiceCluster(ctx, dir, "hits-", nx, wasm, func(https []string) error { return hits(ctx, p, r, https) })
}

// withServiceCluster runs f with a three-node cluster of wasm serving HTTP
// (in a fresh directory under dir) and stops the nodes afterwards.
func withServiceCluster(ctx context.Context, dir, name, nx, wasm string, f func(https []string) error) error {
	cdir, err := os.MkdirTemp(dir, name)
	if err != nil {
		return err
	}
	procs, https, err := serviceCluster(ctx, cdir, nx, wasm, 3)
	defer func() {
		for _, pr := range procs {
			pr.stop()
		}
	}()
	if err != nil {
		return err
	}
	return f(https)
}

func hits(ctx context.Context, p Profile, r *Report, https []string) error {
	var wg sync.WaitGroup
	results := make([]loadResult, 3)
	for i, h := range https {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = load(ctx, "POST", "http://"+h+"/hit", p.ServeConns/2, p.ServeFor, 1<<62)
		}()
	}
	wg.Wait()
	end := time.Now()
	total, minRate := 0, -1.0
	failed := 0
	for _, res := range results {
		total += res.ok
		failed += res.failed
		if minRate < 0 || res.rate() < minRate {
			minRate = res.rate()
		}
	}
	at, err := poll(ctx, 10*time.Millisecond, time.Minute, "every hit counted on every node", func() (bool, error) {
		for _, h := range https {
			if c, err := getCount("http://" + h + "/count"); err != nil || c != total {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	r.Add("POST /hit, 3 nodes serving: requests/s per node (slowest node)", minRate, "req/s", Throughput, ">= 10000")
	r.Add("POST /hit, 3 nodes: hits counted on every node", float64(total), "count", Info, "")
	r.Add("POST /hit, 3 nodes: failed requests", float64(failed), "count", Info, "")
	r.Add("POST /hit, 3 nodes: converged after load", ms(at.Sub(end)), "ms", Info, "")
	p99 := 0.0
	for _, res := range results {
		p99 = max(p99, ms(pct(res.lat, 0.99)))
	}
	r.Add("POST /hit, 3 nodes: p99, slowest node", p99, "ms", Latency, "")
	return nil
}

// serveLatency writes POST /hit to node 1 at 500/s and times each total's
// arrival as an SSE event at a client of node 3. on_change coalesces, so a
// hit's latency is when its total, or a larger one, first arrives.
func serveLatency(ctx context.Context, p Profile, r *Report, dir, nx, wasm string) error {
	return withServiceCluster(ctx, dir, "latency-", nx, wasm, func(https []string) error { return latency(ctx, p, r, https) })
}

func latency(ctx context.Context, p Profile, r *Report, https []string) error {
	resp, err := http.Get("http://" + https[2] + "/_nx/events?prefix=hits.total")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var mu sync.Mutex
	sent := map[int]time.Time{}
	var lat []time.Duration
	highest := 0
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			v, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				continue
			}
			now := time.Now()
			mu.Lock()
			for k := highest + 1; k <= n; k++ {
				if t, ok := sent[k]; ok {
					lat = append(lat, now.Sub(t))
					delete(sent, k)
				}
			}
			highest = max(highest, n)
			mu.Unlock()
		}
	}()
	const rate = 500
	writes := int(p.LatencySeconds * rate)
	client := &http.Client{Timeout: 10 * time.Second}
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	for i := 0; i < writes; i++ {
		<-tick.C
		t0 := time.Now()
		res, err := client.Post("http://"+https[0]+"/hit", "", nil)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return fmt.Errorf("hit: %q", b)
		}
		mu.Lock()
		if n > highest {
			sent[n] = t0
		}
		mu.Unlock()
	}
	_, err = poll(ctx, 10*time.Millisecond, 30*time.Second, "every total at node 3's client", func() (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return len(sent) == 0, nil
	})
	if err != nil {
		return err
	}
	mu.Lock()
	slices.Sort(lat)
	mu.Unlock()
	r.Add("change to client (write on node 1, SSE at node 3, 500 writes/s): p50", ms(pct(lat, 0.5)), "ms", Info, "")
	r.Add("change to client (write on node 1, SSE at node 3, 500 writes/s): p99", ms(pct(lat, 0.99)), "ms", Latency, "<= 50")
	r.Add("change to client: writes timed", float64(len(lat)), "count", Info, "")
	return nil
}
