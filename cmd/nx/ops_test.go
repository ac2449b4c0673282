package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/numax/numax/internal/perf"
	"github.com/numax/numax/internal/testutil"
)

// Precedence: flags > NX_* environment > file > defaults, as a table.
func TestConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "node.toml")
	os.WriteFile(file, []byte("[storage]\ndatastore_path = \"/file\"\n[observability]\nlog_level = \"warn\"\n"), 0o644)
	tests := []struct {
		name     string
		useFile  bool
		env      string
		flag     string
		wantPath string
	}{
		{"default", false, "", "", "./nx-data"},
		{"file", true, "", "", "/file"},
		{"env_over_file", true, "/env", "", "/env"},
		{"flag_over_env_and_file", true, "/env", "/flag", "/flag"},
		{"flag_over_default", false, "", "/flag", "/flag"},
		{"env_over_default", false, "/env", "", "/env"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("NX_DATASTORE_PATH", tt.env)
			} else {
				os.Unsetenv("NX_DATASTORE_PATH")
			}
			cmd, f := newRunCmdFlags(io.Discard, io.Discard)
			var args []string
			if tt.useFile {
				args = append(args, "--config", file)
			}
			if tt.flag != "" {
				args = append(args, "--datastore-path", tt.flag)
			}
			if err := cmd.ParseFlags(args); err != nil {
				t.Fatal(err)
			}
			c, err := f.effective(cmd)
			if err != nil {
				t.Fatal(err)
			}
			if c.Storage.DatastorePath != tt.wantPath {
				t.Fatalf("datastore_path = %q, want %q", c.Storage.DatastorePath, tt.wantPath)
			}
			if tt.useFile && c.Observability.LogLevel != "warn" {
				t.Fatalf("file value lost: log_level %q", c.Observability.LogLevel)
			}
		})
	}
}

func TestConfigCommands(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "node.toml")
	if r := testutil.RunNX(t, time.Minute, nil, "config", "init", "--output", file); r.Code != 0 {
		t.Fatalf("init: %s", r.Stderr)
	}
	if r := testutil.RunNX(t, time.Minute, nil, "config", "init", "--output", file); r.Code != 1 || !strings.Contains(r.Stderr, "exists") {
		t.Fatalf("init over an existing file: %d %s", r.Code, r.Stderr)
	}
	if r := testutil.RunNX(t, time.Minute, nil, "config", "validate", "--config", file); r.Code != 0 || r.Stdout != file+": ok\n" {
		t.Fatalf("validate template: %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	typo := filepath.Join(dir, "typo.toml")
	os.WriteFile(typo, []byte("[storage]\nsync = \"always\"\n\n[limits]\nmax_peer = 3\n"), 0o644)
	r := testutil.RunNX(t, time.Minute, nil, "config", "validate", "--config", typo)
	if r.Code != 1 || !strings.HasPrefix(r.Stderr, "nx: "+typo+":5: limits.max_peer: unknown key") {
		t.Fatalf("typo: %d %q", r.Code, r.Stderr)
	}
	// show --effective: file < env, and its output is itself valid input.
	os.WriteFile(file, []byte("[storage]\ndatastore_path = \"/from-file\"\n[observability]\nlog_level = \"debug\"\n"), 0o644)
	r = testutil.RunNX(t, time.Minute, []string{"NX_DATASTORE_PATH=/from-env"}, "config", "show", "--config", file, "--effective")
	if r.Code != 0 || !strings.Contains(r.Stdout, "datastore_path = '/from-env'") || !strings.Contains(r.Stdout, "log_level = 'debug'") {
		t.Fatalf("show: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	shown := filepath.Join(dir, "shown.toml")
	os.WriteFile(shown, []byte(r.Stdout), 0o644)
	if r := testutil.RunNX(t, time.Minute, nil, "config", "validate", "--config", shown); r.Code != 0 {
		t.Fatalf("show output is not valid input: %s", r.Stderr)
	}
}

func TestRunRefusals(t *testing.T) {
	wasm := testutil.GoGuest(t, "examples/distributed_counter")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte("[limits]\nqueued_ops_limit = 0\n"), 0o644)
	for _, tt := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"listen_port_in_use", []string{"--listen", busy.Addr().String(), "--tls-insecure"}, 1, "listen on " + busy.Addr().String()},
		{"observability_port_in_use", []string{"--observability-listen", busy.Addr().String()}, 1, "observability listen on " + busy.Addr().String()},
		{"unreadable_cert", []string{"--listen", "127.0.0.1:0", "--tls-cert", "/nonexistent/a.crt", "--tls-key", "/nonexistent/a.key", "--tls-ca", "/nonexistent/ca.crt"}, 1, "load TLS certificate /nonexistent/a.crt"},
		{"bad_config_file", []string{"--config", bad}, 1, bad + ":2: limits.queued_ops_limit: must be greater than zero"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			r := testutil.RunNX(t, time.Minute, nil, append([]string{"run", wasm, "--datastore-path", dir}, tt.args...)...)
			if r.Code != tt.code || !strings.Contains(r.Stderr, tt.want) || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
				t.Fatalf("exit %d stderr %q, want %d with %q", r.Code, r.Stderr, tt.code, tt.want)
			}
		})
	}
}

func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("not Prometheus text format: %v", err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			key := name
			for _, l := range m.GetLabel() {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			switch {
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				out[key+"_count"] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Scenario 18: /health, /ready and /metrics, scraped by the Prometheus text
// parser; values move as ops happen.
func TestObservability(t *testing.T) {
	wasm := testutil.GoGuest(t, "examples/distributed_counter")
	a, obsAddr := testutil.FreePort(t), testutil.FreePort(t)
	pa := testutil.StartNX(t, []string{"NX_VISITS=1"}, nodeRun(wasm, t.TempDir(), a, "--tls-insecure",
		"--observability-listen", obsAddr, "--log-level", "info")...)
	waitLog(t, pa, "serving until")
	if code, body := get(t, "http://"+obsAddr+"/health"); code != 200 || body != "ok\n" {
		t.Fatalf("/health = %d %q", code, body)
	}
	if code, _ := get(t, "http://"+obsAddr+"/ready"); code != 200 {
		t.Fatalf("/ready = %d while serving", code)
	}
	m := scrape(t, obsAddr)
	for _, name := range []string{"numax_ops_total", "numax_peers_connected", "numax_store_bytes", "numax_store_keys",
		"numax_wasm_memory_bytes", "numax_broadcast_ops_total", "numax_remote_ops_applied_total", "numax_remote_ops_received_total",
		"numax_remote_ops_duplicate_total", "numax_peer_connects_total", "numax_peer_disconnects_total",
		"numax_relay_tree_prunes_total", "numax_relay_tree_grafts_total", "numax_relay_tree_haves_total",
		"numax_crdt_sequence_loads_total", "numax_crdt_sequence_unloads_total", "numax_crdt_sequence_view_writes_total",
		"numax_wasm_compile_duration_seconds_count", "numax_wasm_execution_duration_seconds_count",
		"numax_sync_errors_total{reason=refused}", "numax_wasm_invocations_total{module=distributed_counter.wasm}{status=ok}"} {
		if _, ok := m[name]; !ok {
			t.Errorf("metric %s missing", name)
		}
	}
	if m["numax_ops_total"] != 1 || m["numax_peers_connected"] != 0 {
		t.Fatalf("before the peer: ops %v peers %v", m["numax_ops_total"], m["numax_peers_connected"])
	}
	r := testutil.RunNX(t, time.Minute, []string{"NX_VISITS=2"}, nodeRun(wasm, t.TempDir(), testutil.FreePort(t), "--peer", a,
		"--tls-insecure", "--wait-before-run", "10s", "--settle-for", "1s")...)
	if r.Code != 0 {
		t.Fatalf("peer: %s", r.Stderr)
	}
	testutil.Eventually(t, 20*time.Second, "metrics to move", func() bool {
		m := scrape(t, obsAddr)
		return m["numax_ops_total"] == 2 && m["numax_remote_ops_applied_total"] == 1 && m["numax_peer_connects_total"] >= 1
	})
	pa.Cmd.Process.Signal(syscall.SIGTERM)
	exitOK(t, pa, "a")
}

// Scenario 19: nx inspect shows, offline, the same CRDT values the node
// printed; it refuses a datastore in use and never writes.
func TestInspect(t *testing.T) {
	wasm := testutil.GoGuest(t, "testdata/guests/crdttour")
	dir := t.TempDir()
	r := testutil.RunNX(t, time.Minute, nil, nodeRun(wasm, dir, testutil.FreePort(t), "--tls-insecure", "--settle-for", "0s",
		"--print-gcounter", "visits", "--print-pncounter", "stock", "--print-lww-map", "settings", "--print-orset", "tags", "--print-rga", "doc", "--print-text", "note")...)
	if r.Code != 0 {
		t.Fatalf("node: %s", r.Stderr)
	}
	printed := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	printed = printed[len(printed)-6:]
	for i, q := range [][2]string{{"gcounter", "visits"}, {"pncounter", "stock"}, {"lww-map", "settings"}, {"orset", "tags"}, {"rga", "doc"}, {"text", "note"}} {
		got := testutil.RunNX(t, time.Minute, nil, "inspect", "--datastore-path", dir, "crdt", "get", q[0], q[1])
		if got.Code != 0 || strings.TrimSpace(got.Stdout) != printed[i] {
			t.Fatalf("inspect %s %s = %q, node printed %q (%s)", q[0], q[1], got.Stdout, printed[i], got.Stderr)
		}
	}
	if l := testutil.RunNX(t, time.Minute, nil, "inspect", "--datastore-path", dir, "crdt", "list"); !strings.Contains(l.Stdout, "gcounter visits\n") {
		t.Fatalf("crdt list: %q", l.Stdout)
	}
	if v := testutil.RunNX(t, time.Minute, nil, "inspect", "--datastore-path", dir, "vv"); v.Code != 0 || !regexpMatch(`^[0-9a-f]{32} 11\n$`, v.Stdout) {
		t.Fatalf("vv: %q %s", v.Stdout, v.Stderr)
	}
	if o := testutil.RunNX(t, time.Minute, nil, "inspect", "--datastore-path", dir, "oplog", "--tail", "2"); strings.Count(o.Stdout, "\n") != 2 {
		t.Fatalf("oplog --tail 2: %q", o.Stdout)
	}
	before := snapshot(t, dir)
	testutil.RunNX(t, time.Minute, nil, "inspect", "--datastore-path", dir, "keys")
	if after := snapshot(t, dir); !equal(before, after) {
		t.Fatal("inspect wrote to the datastore")
	}
	// A running node holds the datastore: inspect refuses.
	p := testutil.StartNX(t, nil, nodeRun(wasm, dir, testutil.FreePort(t), "--tls-insecure", "--log-level", "info")...)
	waitLog(t, p, "serving until")
	if in := testutil.RunNX(t, time.Minute, nil, "inspect", "--datastore-path", dir, "vv"); in.Code != 1 || !strings.Contains(in.Stderr, "datastore is in use") {
		t.Fatalf("inspect of a running node: %d %s", in.Code, in.Stderr)
	}
	p.Cmd.Process.Signal(syscall.SIGTERM)
	exitOK(t, p, "node")
}

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }

// Scenario 11: a node offline longer than the op log holds still converges
// exactly (snapshot path).
func TestSync_SnapshotPath(t *testing.T) {
	wasm := testutil.GoGuest(t, "testdata/guests/writer")
	cfg := filepath.Join(t.TempDir(), "small-log.toml")
	os.WriteFile(cfg, []byte("[limits]\nop_log_limit = 50\nanti_entropy_interval = \"100ms\"\n"), 0o644)
	a, obsAddr := testutil.FreePort(t), testutil.FreePort(t)
	pa := testutil.StartNX(t, []string{"NX_OPS=500"}, nodeRun(wasm, t.TempDir(), a, "--config", cfg, "--tls-insecure",
		"--settle-for", "15s", "--print-gcounter", "visits", "--log-level", "info", "--observability-listen", obsAddr)...)
	waitLog(t, pa, "settling")
	// Wait until the op log is pruned to its limit, then bring the other node in.
	testutil.Eventually(t, 20*time.Second, "op log pruned", func() bool {
		n, ok := scrape(t, obsAddr)["numax_op_log_entries"]
		return ok && n <= 50
	})
	r := testutil.RunNX(t, time.Minute, []string{"NX_OPS=0"}, nodeRun(wasm, t.TempDir(), testutil.FreePort(t), "--config", cfg,
		"--peer", a, "--tls-insecure", "--wait-before-run", "10s", "--settle-for", "2s", "--print-gcounter", "visits", "--log-level", "info")...)
	if r.Code != 0 || r.Stdout != "visits = 500\n" {
		t.Fatalf("returning node: %d %q\n%s", r.Code, r.Stdout, r.Stderr)
	}
	if !strings.Contains(r.Stderr, "snapshot applied") {
		t.Fatalf("converged without the snapshot path:\n%s", r.Stderr)
	}
	pa.Cmd.Process.Signal(syscall.SIGTERM)
	exitOK(t, pa, "a")
}

// The smoke profile of nx bench runs here (make test); the full one is
// make bench. The reports must parse and carry every figure.
func TestBenchSmoke(t *testing.T) {
	dir := t.TempDir()
	r := testutil.RunNX(t, 5*time.Minute, nil, "bench", "store", "crdt-local", "startup", "sync-3", "sync-10", "chaos", "partition",
		"redis-compare", "serve", "gossip", "--profile", "smoke", "--report-dir", dir,
		"--go-guest", testutil.GoGuest(t, "examples/hello"), "--c-guest", testutil.CGuest(t, "examples/hello_c/guest/hello.c"),
		"--writer-guest", testutil.GoGuest(t, "testdata/guests/writer"),
		"--serve-c-guest", testutil.CGuest(t, "testdata/guests/trivial_http.c"), "--serve-go-guest", testutil.GoGuest(t, "testdata/guests/trivial_http_go"),
		"--counter-guest", guest(t, "counter"), "--store-guest", testutil.CGuest(t, "testdata/guests/dbwrite.c"))
	if r.Code != 0 {
		t.Fatalf("bench: %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, c := range []struct {
		scenario string
		positive []string // measured, so above zero
		zero     []string // correctness: must be exactly zero
	}{
		{"store", []string{"nx run C guest db_set/s (defaults)", "nx run guest / raw Pebble", "raw Pebble Set/s (same keys and values, same run)",
			"loop iteration without host calls, time limit on", "in process: guest db_set/s (interval)", "in process: guest/raw (interval)",
			"in process: db_set p99 (always)"}, nil},
		{"crdt-local", []string{"gcounter writes/s", "orset writes/s"}, nil},
		{"startup", []string{"go-guest start cold", "c-guest start cached"}, nil},
		{"sync-3", []string{"sustained ops/s per node (until all converged)", "peak RSS, largest node",
			"replication delay p50 at 10000 ops/s/node", "replication delay p99 at 10000 ops/s/node", "RSS node 3 after 10000 ops/s"}, nil},
		{"sync-10", []string{"sustained ops/s per node (until all converged)", "peak RSS, largest node"}, nil},
		{"chaos", []string{"sync=always: restarts of node 3", "sync=always: ops written (all nodes)", "sync=interval: restarts of node 3"},
			[]string{"sync=always: double counts", "sync=always: diverging counters after settling", "sync=always: acknowledged ops lost",
				"sync=interval: double counts", "sync=interval: diverging counters after settling"}},
		{"partition", []string{"divergent ops at heal", "converged after heal"}, nil},
		{"redis-compare", []string{"nx / redis (pipeline 1)", "redis: INCR/s per client, pipeline 32"}, nil},
		{"serve", []string{"bare net/http: requests/s", "C handler: requests/s", "C handler: ratio to bare net/http",
			"Go handler (serve.Serve): ratio to bare net/http", "Go service RSS, 2 instances",
			"POST /hit, 3 nodes serving: requests/s per node (slowest node)", "POST /hit, 3 nodes: hits counted on every node",
			"change to client (write on node 1, SSE at node 3, 500 writes/s): p99"},
			[]string{"C handler: failed requests", "POST /hit, 3 nodes: failed requests"}},
		{"gossip", []string{"N=5: new member known by all (from its launch)", "N=5: write visible on all, p99",
			"N=5: op copies received per op (n-1 = 4 is none wasted)", "N=5: hard failure seen by all"}, nil},
	} {
		rep, err := perf.ReadReport(filepath.Join(dir, c.scenario+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if rep.Profile != "smoke" || rep.Machine.Cores == 0 || rep.Machine.GoVersion == "" || !strings.HasPrefix(rep.Command, "nx bench") {
			t.Fatalf("%s report header: %+v", c.scenario, rep)
		}
		have := map[string]float64{}
		for _, m := range rep.Metrics {
			have[m.Name] = m.Value
		}
		for _, n := range c.positive {
			if v, ok := have[n]; !ok || v <= 0 {
				t.Errorf("%s: metric %q = %v (present: %v)", c.scenario, n, v, ok)
			}
		}
		for _, n := range c.zero {
			if v, ok := have[n]; !ok || v != 0 {
				t.Errorf("%s: metric %q = %v (present: %v), want 0", c.scenario, n, v, ok)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, c.scenario+".md")); err != nil {
			t.Error(err)
		}
	}
	// A baseline ten times faster than this run is a regression.
	base := filepath.Join(t.TempDir(), "base")
	os.MkdirAll(base, 0o755)
	rep, _ := perf.ReadReport(filepath.Join(dir, "crdt-local.json"))
	for i := range rep.Metrics {
		rep.Metrics[i].Value *= 10
	}
	rep.WriteJSON(filepath.Join(base, "crdt-local.json"))
	rr := testutil.RunNX(t, 3*time.Minute, nil, "bench", "crdt-local", "--report-dir", t.TempDir(), "--baseline-dir", base)
	if rr.Code != 1 || !strings.Contains(rr.Stdout, "REGRESSION crdt-local: gcounter writes/s") {
		t.Fatalf("regression not caught: %d\n%s\n%s", rr.Code, rr.Stdout, rr.Stderr)
	}
}
