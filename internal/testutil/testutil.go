// Package testutil builds the real artifacts tests run: the nx binary and
// guest modules from Go or C source, each at most once per test process.
// It also starts nx as a separate process and polls with deadlines.
//
// Missing toolchains are a test failure with the command that installs them,
// never a skip: `make test` installs them.
package testutil

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Root returns the repository root (the directory holding go.mod).
func Root(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testutil: cannot locate source")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

var (
	buildMu  sync.Mutex
	built    = map[string]string{}
	buildDir string
)

func outDir(t testing.TB) string {
	if buildDir == "" {
		d, err := os.MkdirTemp("", "numax-test-build-")
		if err != nil {
			t.Fatal(err)
		}
		buildDir = d
	}
	return buildDir
}

// once builds key with f the first time and returns the cached path after.
func once(t testing.TB, key string, f func(out string) error) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[key]; ok {
		return p
	}
	// One directory per artifact keeps the file name clean (probe.wasm).
	dir := filepath.Join(outDir(t), fmt.Sprint(len(built)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, artifactName(key))
	if err := f(out); err != nil {
		t.Fatalf("build %s: %v", key, err)
	}
	built[key] = out
	return out
}

func runCmd(dir string, env []string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return nil
}

// artifactName is the file name for a build key: "nx", or the last source
// path element with .wasm ("examples/hello#true.wasm" -> "hello.wasm",
// "testdata/guests/probe.c.wasm" -> "probe.wasm").
func artifactName(key string) string {
	base := filepath.Base(key)
	if i := strings.IndexAny(base, "#."); i > 0 && strings.HasSuffix(base, ".wasm") {
		return base[:i] + ".wasm"
	}
	return base
}

// NX builds cmd/nx (CGO_ENABLED=0) and returns the binary's path. The
// load harness cmd/nx-bench is built beside it, where `nx bench` runs it.
func NX(t testing.TB) string {
	t.Helper()
	root := Root(t)
	return once(t, "nx", func(out string) error {
		return runCmd(root, []string{"CGO_ENABLED=0"}, "go", "build", "-o", filepath.Dir(out)+string(filepath.Separator), "./cmd/nx", "./cmd/nx-bench")
	})
}

// GoGuest builds the Go guest package in dir (relative to the repository
// root) as a WASI reactor (-buildmode=c-shared) and returns the .wasm path.
func GoGuest(t testing.TB, dir string) string {
	t.Helper()
	return goBuild(t, dir, true)
}

// GoCommand builds the Go package in dir as a WASI command (`_start`).
func GoCommand(t testing.TB, dir string) string {
	t.Helper()
	return goBuild(t, dir, false)
}

func goBuild(t testing.TB, dir string, reactor bool) string {
	t.Helper()
	root := Root(t)
	key := dir + fmt.Sprintf("#%v.wasm", reactor)
	return once(t, key, func(out string) error {
		args := []string{"build", "-o", out}
		if reactor {
			args = append(args, "-buildmode=c-shared")
		}
		args = append(args, "./"+filepath.ToSlash(dir))
		return runCmd(root, []string{"GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0"}, "go", args...)
	})
}

// CGuest compiles C sources (relative to the repository root) into a WASI
// reactor with sdk/c on the include path, and returns the .wasm path.
func CGuest(t testing.TB, srcs ...string) string {
	t.Helper()
	return CGuestFlags(t, nil, srcs...)
}

// CGuestFlags is CGuest with extra compiler flags (e.g. -DNAME).
func CGuestFlags(t testing.TB, flags []string, srcs ...string) string {
	t.Helper()
	root := Root(t)
	if _, err := exec.LookPath("clang"); err != nil {
		t.Fatal("clang is not installed; C guests need: apt-get install -y clang lld wasi-libc libclang-rt-dev-wasm32 (make test does this)")
	}
	key := strings.Join(srcs, "+")
	if len(flags) > 0 {
		key += "#" + strings.Join(flags, "#")
	}
	return once(t, key+".wasm", func(out string) error {
		args := []string{"--target=wasm32-wasi", "-mexec-model=reactor", "-O2", "-Wall", "-Werror",
			"-I", filepath.Join(root, "sdk", "c"), "-o", out}
		args = append(args, flags...)
		for _, s := range srcs {
			args = append(args, filepath.Join(root, s))
		}
		return runCmd(root, nil, "clang", args...)
	})
}

// CGuestBare compiles freestanding C sources (no libc) into a bare wasm32
// module, as wasm32-unknown-unknown toolchains make them: no WASI imports,
// exporting run (from the source), memory, __data_end and __heap_base.
// Only the source's own directory is on the include path.
func CGuestBare(t testing.TB, srcs ...string) string {
	t.Helper()
	root := Root(t)
	if _, err := exec.LookPath("clang"); err != nil {
		t.Fatal("clang is not installed; C guests need: apt-get install -y clang lld wasi-libc libclang-rt-dev-wasm32 (make test does this)")
	}
	return once(t, strings.Join(srcs, "+")+"#bare.wasm", func(out string) error {
		args := []string{"--target=wasm32", "-nostdlib", "-O2", "-Wall", "-Werror",
			"-Wl,--no-entry", "-Wl,--export=__data_end", "-Wl,--export=__heap_base", "-o", out}
		for _, s := range srcs {
			args = append(args, filepath.Join(root, s))
		}
		return runCmd(root, nil, "clang", args...)
	})
}

// CGuestWASI compiles C sources into a WASI reactor (wasm32-wasi, called
// wasm32-wasip1 by newer toolchains) with only the sources' own directory on
// the include path (not sdk/c).
func CGuestWASI(t testing.TB, srcs ...string) string {
	t.Helper()
	root := Root(t)
	if _, err := exec.LookPath("clang"); err != nil {
		t.Fatal("clang is not installed; C guests need: apt-get install -y clang lld wasi-libc libclang-rt-dev-wasm32 (make test does this)")
	}
	return once(t, strings.Join(srcs, "+")+"#wasi.wasm", func(out string) error {
		args := []string{"--target=wasm32-wasi", "-mexec-model=reactor", "-O2", "-Wall", "-Werror", "-o", out}
		for _, s := range srcs {
			args = append(args, filepath.Join(root, s))
		}
		return runCmd(root, nil, "clang", args...)
	})
}

// Result is how an nx process ended.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// RunNX runs the nx binary with args and env (added to the environment),
// waits at most timeout, and returns its output and exit code.
func RunNX(t testing.TB, timeout time.Duration, env []string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, NX(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("nx %s: did not finish within %s\nstderr: %s", strings.Join(args, " "), timeout, stderr.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("nx %s: %v", strings.Join(args, " "), err)
	}
	return Result{Stdout: stdout.String(), Stderr: stderr.String(), Code: code}
}

// Eventually polls cond every 10 ms until it returns true or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Main runs a package's tests and then removes the built artifacts. Call it
// from TestMain.
func Main(m interface{ Run() int }) int {
	code := m.Run()
	buildMu.Lock()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	buildMu.Unlock()
	return code
}
