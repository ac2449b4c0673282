package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/numax/numax/internal/testutil"
)

// mountTmpfs mounts a tmpfs of size bytes at a new directory and unmounts
// it when the test ends. It needs root (or CAP_SYS_ADMIN): without it the
// test fails, naming why; the store's own test covers the logic with an
// injected free-space query.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a %s tmpfs for the disk-full test (needs root): %v\n%s", size, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	})
	return dir
}

// A full disk (a real 48 MiB filesystem): the write that meets it gets -3
// at once, the node logs it once, /ready answers 503 and the metric says
// why, reads go on; freeing space resumes writes by themselves; and a node
// stopped while the disk is full shuts down cleanly on the first SIGTERM.
func TestDiskFull_RealFilesystem(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the disk-full test mounts a tmpfs and needs root; make test runs as root in CI")
	}
	fs := mountTmpfs(t, "48M")
	// Room to give back later.
	filler := filepath.Join(fs, "filler")
	if err := os.WriteFile(filler, make([]byte, 16<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "nx.toml")
	if err := os.WriteFile(cfg, []byte("[storage]\nmin_free_space = \"8MiB\"\n[limits]\nguest_timeout = \"0s\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	obs := testutil.FreePort(t)
	p := testutil.StartNX(t, []string{"NX_WAIT_MS=60000"}, "run", guest(t, "diskfull"), "--datastore-path", filepath.Join(fs, "data"),
		"--config", cfg, "--observability-listen", obs, "--log-level", "info")
	testutil.Eventually(t, time.Minute, "the refused write", func() bool { return strings.Contains(p.Stdout(), "full ") })
	if !strings.Contains(p.Stdout(), ": -3 in ") {
		t.Fatalf("the refused write: %q", p.Stdout())
	}
	testutil.Eventually(t, 10*time.Second, "/ready 503 and the metric", func() bool {
		resp, err := http.Get("http://" + obs + "/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable && scrape(t, obs)["numax_store_degraded{reason=disk_full}"] == 1
	})
	if n := strings.Count(p.Stderr(), "datastore degraded"); n != 1 {
		t.Fatalf("%d 'datastore degraded' lines, want 1:\n%s", n, tail(p.Stderr()))
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if code := p.Wait(t, time.Minute); code != 0 || !strings.Contains(p.Stdout(), "resumed after") {
		t.Fatalf("after space came back: exit %d, %q\n%s", code, p.Stdout(), tail(p.Stderr()))
	}
	if !strings.Contains(p.Stderr(), "datastore writes resumed") {
		t.Fatalf("no 'writes resumed' line:\n%s", tail(p.Stderr()))
	}

	// Full again, and stopped while full: the first SIGTERM ends it cleanly.
	if err := os.WriteFile(filler, make([]byte, 12<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	// (The default guest_timeout: a guest that cannot be interrupted is
	// another matter, with its own warning.)
	cfg2 := filepath.Join(t.TempDir(), "nx.toml")
	if err := os.WriteFile(cfg2, []byte("[storage]\nmin_free_space = \"8MiB\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p = testutil.StartNX(t, []string{"NX_WAIT_MS=25000"}, "run", guest(t, "diskfull"), "--datastore-path", filepath.Join(fs, "data"),
		"--config", cfg2, "--log-level", "info")
	testutil.Eventually(t, time.Minute, "full again", func() bool { return strings.Contains(p.Stdout(), "full ") })
	start := time.Now()
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	code := p.Wait(t, 30*time.Second)
	if code != 1 || !strings.Contains(p.Stderr(), "guest stopped: node is shutting down") || strings.Contains(p.Stderr(), "panic") {
		t.Fatalf("SIGTERM while the disk is full: exit %d after %s\n%s", code, time.Since(start), tail(p.Stderr()))
	}
	t.Logf("stopped in %s with exit %d: %s", time.Since(start).Round(time.Millisecond), code, tail(p.Stderr()))
}
