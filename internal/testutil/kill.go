package testutil

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RunAndKill re-runs the test binary as a child with env added (the child's
// TestMain recognises it), hands every stdout line to onLine, and SIGKILLs
// the child once it has printed its first line and `after` has passed. It
// fails the test unless the child dies by that SIGKILL.
func RunAndKill(t testing.TB, env []string, after time.Duration, onLine func(string)) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var kill <-chan time.Time
	deadline := time.After(60 * time.Second)
	for lines != nil {
		select {
		case l, ok := <-lines:
			if !ok {
				lines = nil
				break
			}
			onLine(l)
			if kill == nil {
				kill = time.After(after)
			}
		case <-kill:
			_ = cmd.Process.Signal(syscall.SIGKILL)
			kill = nil
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatalf("child made no progress; stderr: %s", stderr.String())
		}
	}
	var ee *exec.ExitError
	if err := cmd.Wait(); !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v; stderr: %s", err, stderr.String())
	}
}

// RunAndKillCounting is RunAndKill for the crash-test children that print
// "ack N" after each acknowledged write and "durable N" for the highest one
// known fsynced; it returns the last of each seen before the kill.
func RunAndKillCounting(t testing.TB, env []string, after time.Duration) (acked, durable uint64) {
	t.Helper()
	RunAndKill(t, env, after, func(l string) {
		f := strings.Fields(l)
		if len(f) != 2 {
			return
		}
		n, _ := strconv.ParseUint(f[1], 10, 64)
		switch f[0] {
		case "ack":
			acked = n
		case "durable":
			durable = n
		}
	})
	return acked, durable
}
