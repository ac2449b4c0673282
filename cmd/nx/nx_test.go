package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/numax/numax/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(testutil.Main(m)) }

const timeout = 2 * time.Minute

func guest(t *testing.T, name string) string {
	return testutil.CGuest(t, "testdata/guests/"+name+".c")
}

// TestConformance runs the ABI probe guest, which walks every code path of
// docs/host-abi.md's local part, and requires every check to pass. The probe is
// built once per form of host_log_v2 (a module imports one of them).
func TestConformance(t *testing.T) {
	for _, tt := range []struct {
		name  string
		flags []string
		min   int
	}{
		{"levelled_log", nil, 153},
		{"original_log", []string{"-DPROBE_ORIGINAL_LOG"}, 158},
	} {
		t.Run(tt.name, func(t *testing.T) {
			probe := testutil.CGuestFlags(t, tt.flags, "testdata/guests/probe.c")
			r := testutil.RunNX(t, timeout, []string{"NX_PROBE=conformance"}, "run", probe, "--datastore-path", t.TempDir())
			if r.Code != 0 {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, tail(r.Stderr))
			}
			lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
			passed := 0
			for _, l := range lines[:len(lines)-1] {
				switch {
				case strings.HasPrefix(l, "PASS "):
					passed++
				default:
					t.Errorf("%s", l)
				}
			}
			m := regexp.MustCompile(`^SUMMARY checks=(\d+) fails=0$`).FindStringSubmatch(lines[len(lines)-1])
			if m == nil {
				t.Fatalf("summary line: %q", lines[len(lines)-1])
			}
			if passed < tt.min || m[1] != itoa(passed) {
				t.Fatalf("passed %d checks (want at least %d), summary says %s", passed, tt.min, m[1])
			}
			t.Logf("%d ABI checks passed", passed)
			// The host logged the probe's line with its module id, and its events.
			for _, want := range []string{`level=INFO msg="probe log line" node=[0-9a-f]{32} module=` + regexp.QuoteMeta(probe), `event=probe.ok:1-a_b`, `msg="guest log message outside guest memory"`} {
				if !regexp.MustCompile(want).MatchString(r.Stderr) {
					t.Errorf("stderr lacks %q", want)
				}
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// counterRuns runs kv_counter on dir and returns its output line.
func counterRuns(t *testing.T, dir string) string {
	t.Helper()
	r := testutil.RunNX(t, timeout, nil, "run", testutil.GoGuest(t, "examples/kv_counter"), "--datastore-path", dir)
	if r.Code != 0 {
		t.Fatalf("kv_counter: exit %d: %s", r.Code, r.Stderr)
	}
	return strings.TrimSpace(r.Stdout)
}

func TestUserErrors(t *testing.T) {
	notWasm := filepath.Join(t.TempDir(), "notes.wasm")
	if err := os.WriteFile(notWasm, []byte("just some text\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		args []string
		env  []string
		want string // regexp the one error line must match
	}{
		{"not_wasm", notWasm, nil, nil, `^nx: .*notes\.wasm: not a WebAssembly module \(missing \\0asm magic header\)$`},
		{"missing_file", "/nonexistent/app.wasm", nil, nil, `^nx: read module: open /nonexistent/app\.wasm: no such file or directory$`},
		{"unknown_import", guest(t, "badimport"), nil, nil, `^nx: .*badimport\.wasm: unknown import env\.mystery \(i32\) -> i32: the runtime provides only the "nx" host functions and "wasi_snapshot_preview1"$`},
		{"no_entry_point", guest(t, "noentry"), nil, nil, "^nx: .*noentry\\.wasm: module exports no entry point: want a function `run` or `_start` of type \\(\\) -> \\(\\)$"},
		{"trap", guest(t, "trap"), nil, nil, `^nx: .*trap\.wasm: guest trapped: integer divide by zero$`},
		{"abort", guest(t, "probe"), nil, []string{"NX_PROBE=conformance", "NX_PROBE_ABORT=1"}, `^nx: .*probe\.wasm: guest abort: probe abort$`},
		{"time_limit", guest(t, "spin"), []string{"--guest-timeout", "300ms"}, nil, `^nx: .*spin\.wasm: guest stopped: invocation exceeded the time limit of 300ms \(limits\.guest_timeout\)$`},
		{"memory_limit", guest(t, "grow"), []string{"--guest-memory", "16MiB"}, nil, `^nx: .*grow\.wasm: guest stopped: memory limit of 16 MiB reached \(asked to grow to 16512 KiB; limits\.guest_memory\)$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if got := counterRuns(t, dir); got != "runs = 1" {
				t.Fatalf("before: %q", got)
			}
			args := append([]string{"run", tt.path, "--datastore-path", dir, "--log-level", "error"}, tt.args...)
			r := testutil.RunNX(t, timeout, tt.env, args...)
			if r.Code != 1 {
				t.Fatalf("exit %d, want 1\nstderr: %s", r.Code, r.Stderr)
			}
			if lines := strings.Split(strings.TrimRight(r.Stderr, "\n"), "\n"); len(lines) != 1 || !regexp.MustCompile(tt.want).MatchString(lines[0]) {
				t.Fatalf("stderr = %q\nwant one line matching %s", r.Stderr, tt.want)
			}
			if got := counterRuns(t, dir); got != "runs = 2" {
				t.Fatalf("datastore after the failure: %q, want runs = 2", got)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	hello := testutil.GoGuest(t, "examples/hello")
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no_module", []string{"run"}, "run takes exactly one module"},
		{"two_modules", []string{"run", hello, hello}, "run takes exactly one module"},
		{"unknown_flag", []string{"run", hello, "--frobnicate"}, "unknown flag: --frobnicate"},
		{"bad_sync", []string{"run", hello, "--sync", "sometimes"}, `--sync: must be "always" or "interval", got "sometimes"`},
		{"bad_interval", []string{"run", hello, "--sync-interval", "0"}, "--sync-interval: must be a positive duration"},
		{"bad_timeout", []string{"run", hello, "--guest-timeout", "-1s"}, "must not be negative"},
		{"tiny_memory", []string{"run", hello, "--guest-memory", "1KiB"}, "--guest-memory: must be between 64KiB"},
		{"peer_without_listen", []string{"run", hello, "--peer", "127.0.0.1:1"}, "--peer needs sync: add --listen ADDR"},
		{"listen_without_tls", []string{"run", hello, "--listen", "127.0.0.1:0"}, "sync needs tls.cert, tls.key and tls.ca"},
		{"insecure_with_ca", []string{"run", hello, "--listen", "127.0.0.1:0", "--tls-insecure", "--tls-ca", "x"}, "--tls-insecure: insecure (plain TCP) excludes"},
		{"allowlist_without_ca", []string{"run", hello, "--listen", "127.0.0.1:0", "--tls-cert", "c", "--tls-key", "k", "--allowed-peers", "0123456789abcdef0123456789abcdef"}, "--allowed-peers: an allowlist needs tls.ca"},
		{"bad_size", []string{"run", hello, "--guest-memory", "lots"}, "--guest-memory: size"},
		{"bad_log_level", []string{"run", hello, "--log-level", "loud"}, "--log-level"},
		{"unknown_command", []string{"frobnicate"}, "unknown command"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := testutil.RunNX(t, timeout, nil, append(tt.args, "--datastore-path", t.TempDir())...)
			if r.Code != 2 || !strings.Contains(r.Stderr, tt.want) || !strings.HasPrefix(r.Stderr, "nx: ") || !strings.Contains(r.Stderr, "nx --help") {
				t.Fatalf("exit %d stderr %q, want exit 2 with %q", r.Code, r.Stderr, tt.want)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	r := testutil.RunNX(t, timeout, nil, "--version")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "nx version ") {
		t.Fatalf("exit %d stdout %q", r.Code, r.Stdout)
	}
}

// startSpin starts nx running the endless guest on dir and waits until the
// guest is running (it logs "spinning").
func startSpin(t *testing.T, dir string, extra ...string) (*exec.Cmd, func() string) {
	t.Helper()
	cmd := exec.Command(testutil.NX(t), append([]string{"run", guest(t, "spin"), "--datastore-path", dir}, extra...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var mu sync.Mutex
	var buf strings.Builder
	running := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			mu.Lock()
			buf.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if strings.Contains(sc.Text(), `msg=spinning`) {
				once.Do(func() { close(running) })
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	select {
	case <-running:
	case <-time.After(timeout):
		t.Fatal("spin guest never started")
	}
	return cmd, func() string { mu.Lock(); defer mu.Unlock(); return buf.String() }
}

func TestDatastoreInUse(t *testing.T) {
	dir := t.TempDir()
	if got := counterRuns(t, dir); got != "runs = 1" {
		t.Fatalf("before: %q", got)
	}
	startSpin(t, dir)
	r := testutil.RunNX(t, timeout, nil, "run", testutil.GoGuest(t, "examples/kv_counter"), "--datastore-path", dir)
	want := "nx: open datastore " + dir + ": datastore is in use by another process\n"
	if r.Code != 1 || r.Stderr != want {
		t.Fatalf("exit %d stderr %q, want %q", r.Code, r.Stderr, want)
	}
}

// TestSignalStopsGuestGracefully: SIGINT stops the running guest, the node
// closes its datastore cleanly, and the data written before is kept.
func TestSignalStopsGuestGracefully(t *testing.T) {
	dir := t.TempDir()
	if got := counterRuns(t, dir); got != "runs = 1" {
		t.Fatalf("before: %q", got)
	}
	cmd, stderr := startSpin(t, dir)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 1 {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(timeout):
		t.Fatal("nx did not stop on SIGINT")
	}
	testutil.Eventually(t, 5*time.Second, "shutdown message", func() bool {
		return strings.Contains(stderr(), "guest stopped: node is shutting down")
	})
	if got := counterRuns(t, dir); got != "runs = 2" {
		t.Fatalf("after: %q", got)
	}
}

// TestCompileCache: the second run of a module loads it from the cache
// directory instead of compiling again (no new cache entries are written).
func TestCompileCache(t *testing.T) {
	cache := t.TempDir()
	for _, wasm := range []string{testutil.GoGuest(t, "examples/hello"), guest(t, "spin")} {
		args := []string{"run", wasm, "--datastore-path", t.TempDir(), "--compile-cache", cache, "--guest-timeout", "200ms"}
		testutil.RunNX(t, timeout, nil, args...)
		first := snapshot(t, cache)
		if len(first) == 0 {
			t.Fatalf("%s: nothing cached", wasm)
		}
		testutil.RunNX(t, timeout, nil, args...)
		if second := snapshot(t, cache); !equal(first, second) {
			t.Fatalf("%s: second run rewrote the cache:\n%v\n%v", wasm, first, second)
		}
	}
}

func snapshot(t *testing.T, dir string) map[string]time.Time {
	t.Helper()
	m := map[string]time.Time{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			m[p] = fi.ModTime()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func equal(a, b map[string]time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !b[k].Equal(v) {
			return false
		}
	}
	return true
}

func TestProfileFlags(t *testing.T) {
	for _, flag := range []string{"--cpu-profile", "--mem-profile"} {
		t.Run(flag, func(t *testing.T) {
			prof := filepath.Join(t.TempDir(), "x.prof")
			r := testutil.RunNX(t, timeout, nil, "run", testutil.GoGuest(t, "examples/hello"), "--datastore-path", t.TempDir(), flag, prof)
			b, err := os.ReadFile(prof)
			// pprof writes a gzipped protobuf.
			if r.Code != 0 || err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
				t.Fatalf("exit %d, profile of %d bytes, %v\n%s", r.Code, len(b), err, r.Stderr)
			}
		})
	}
}
