package main

import (
	"os/exec"
	"syscall"
	"testing"

	"github.com/numax/numax/internal/testutil"
)

// A guest that grows to 240 MiB and touches all of it costs the node about
// that, not twice (guest memory is reserved address space, resident as
// touched, grown without copying). Measured as the nx process's peak RSS.
func TestGuestMemoryCostsItsOwnSize(t *testing.T) {
	wasm := guest(t, "touch")
	cmd := exec.Command(testutil.NX(t), "run", wasm, "--datastore-path", t.TempDir(), "--log-level", "warn")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	peak := float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) * 1024 // kB on Linux
	const guest = 240 << 20
	t.Logf("node peak RSS %.1f MB for a guest of %.1f MB", peak/1e6, float64(guest)/1e6)
	if peak > guest+100<<20 {
		t.Fatalf("node peak RSS %.1f MB for a 240 MiB guest: more than the guest's size plus 100 MiB", peak/1e6)
	}
}
