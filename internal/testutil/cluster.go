package testutil

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/numax/numax/internal/freeport"
)

// FreePort returns a 127.0.0.1 address with a port free at call time,
// outside the ephemeral range (see package freeport).
func FreePort(t testing.TB) string {
	t.Helper()
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// Proc is an nx process started in the background.
type Proc struct {
	Cmd            *exec.Cmd
	mu             sync.Mutex
	stdout, stderr bytes.Buffer
	done           chan struct{}
	err            error
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// StartNX starts nx with args and env; the test's cleanup kills it if it
// is still running.
func StartNX(t testing.TB, env []string, args ...string) *Proc {
	t.Helper()
	p := &Proc{Cmd: exec.Command(NX(t), args...), done: make(chan struct{})}
	p.Cmd.Env = append(os.Environ(), env...)
	p.Cmd.Stdout = lockedWriter{&p.mu, &p.stdout}
	p.Cmd.Stderr = lockedWriter{&p.mu, &p.stderr}
	if err := p.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.Cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.Cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Stdout and Stderr return what the process printed so far.
func (p *Proc) Stdout() string { p.mu.Lock(); defer p.mu.Unlock(); return p.stdout.String() }
func (p *Proc) Stderr() string { p.mu.Lock(); defer p.mu.Unlock(); return p.stderr.String() }

// Wait waits at most d for the process to exit and returns its exit code.
func (p *Proc) Wait(t testing.TB, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		_ = p.Cmd.Process.Kill()
		t.Fatalf("nx %s did not exit within %s\nstderr: %s", strings.Join(p.Cmd.Args[1:], " "), d, p.Stderr())
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return 0
}

// clusterSettle is RunCluster's --settle-for.
const clusterSettle = "6s"

// Node describes one node of RunCluster: its environment and extra flags.
type Node struct {
	Env  []string
	Args []string
}

// RunCluster runs one nx process per node with module wasm, the first
// listening alone and each later one dialing all earlier ones, all with
// --tls-insecure unless extra flags say otherwise, and common flags (e.g.
// --print-*). It waits for all to exit 0 and returns their stdouts.
//
// Each node syncs for clusterSettle after its run: the window in which it
// must get every other node's writes, so it covers the later nodes' start
// (compiling the guest takes seconds under -race with every package's
// tests at once; 3 s was once too short for the last node of three).
func RunCluster(t testing.TB, wasm string, nodes []Node, common ...string) []string {
	t.Helper()
	var addrs []string
	var procs []*Proc
	for i, n := range nodes {
		addr := FreePort(t)
		args := []string{"run", wasm, "--datastore-path", t.TempDir(), "--listen", addr,
			"--settle-for", clusterSettle, "--log-level", "warn"}
		for _, a := range addrs {
			args = append(args, "--peer", a)
		}
		if i > 0 {
			args = append(args, "--wait-before-run", "5s")
		}
		if !containsFlag(n.Args, "--tls-cert") {
			args = append(args, "--tls-insecure")
		}
		args = append(append(args, n.Args...), common...)
		procs = append(procs, StartNX(t, n.Env, args...))
		addrs = append(addrs, addr)
	}
	outs := make([]string, len(procs))
	for i, p := range procs {
		if code := p.Wait(t, 2*time.Minute); code != 0 {
			t.Fatalf("node %d exited %d\nstderr: %s", i+1, code, p.Stderr())
		}
		outs[i] = p.Stdout()
	}
	return outs
}

func containsFlag(args []string, f string) bool {
	for _, a := range args {
		if a == f {
			return true
		}
	}
	return false
}

// SameOutput fails unless every output equals want (or, with want "", each
// other).
func SameOutput(t testing.TB, outs []string, want string) {
	t.Helper()
	if want == "" {
		want = outs[0]
	}
	for i, o := range outs {
		if o != want {
			t.Fatalf("node %d printed %q, want %q (all: %q)", i+1, o, want, outs)
		}
	}
}
