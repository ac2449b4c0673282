package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/numax/numax/internal/testutil"
)

// In-process tests of the command line: run(ctx, args, stdout, stderr) is
// what main calls, so these see exactly the exit codes and lines a user sees,
// without a process per case.

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = exitCode(run(context.Background(), args, &out, &errb), &errb)
	return code, out.String(), errb.String()
}

func TestCLI_UsageErrors(t *testing.T) {
	wasm := filepath.Join(t.TempDir(), "x.wasm")
	if err := os.WriteFile(wasm, []byte("\x00asm\x01\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		args []string
		want string // the first stderr line
	}{
		{"unknown_command", []string{"frobnicate"}, `nx: unknown command "frobnicate" for "nx"`},
		{"run_without_module", []string{"run"}, "nx: run takes exactly one module before `--`, got 0"},
		{"unknown_flag", []string{"run", wasm, "--no-such-flag"}, "nx: unknown flag: --no-such-flag"},
		{"bad_sync_mode", []string{"run", wasm, "--datastore-path", dir, "--sync", "sometimes"}, "nx: --sync: "},
		{"bad_guest_memory", []string{"run", wasm, "--datastore-path", dir, "--guest-memory", "lots"}, "nx: --guest-memory: "},
		{"bad_guest_timeout", []string{"run", wasm, "--datastore-path", dir, "--guest-timeout", "soon"}, "nx: --guest-timeout: "},
		{"peer_without_listen", []string{"run", wasm, "--datastore-path", dir, "--peer", "127.0.0.1:1"}, "nx: --peer needs sync: add --listen ADDR"},
		{"print_without_listen", []string{"run", wasm, "--datastore-path", dir, "--print-gcounter", "k"}, "nx: --print-gcounter needs sync: add --listen ADDR"},
		{"bad_settle_for", []string{"run", wasm, "--datastore-path", dir, "--listen", "127.0.0.1:0", "--tls-insecure", "--settle-for", "x"}, "nx: --settle-for: "},
		{"missing_config_file", []string{"config", "validate"}, "nx: "},
		{"bench_unknown_scenario", []string{"bench", "nope"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "bench_unknown_scenario" {
				// nx bench runs nx-bench from beside the nx binary, which an
				// in-process test is not: it must say so, not crash.
				code, _, stderr := runCLI(t, tt.args...)
				if code != 1 || !strings.Contains(stderr, "nx-bench") {
					t.Fatalf("exit %d, stderr %q", code, stderr)
				}
				return
			}
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			first, _, _ := strings.Cut(stderr, "\n")
			if !strings.HasPrefix(first, tt.want) || !strings.Contains(stderr, "Run 'nx --help' for usage.") {
				t.Fatalf("stderr %q, want a first line starting %q and the usage hint", stderr, tt.want)
			}
		})
	}
	// No usage error touched the datastore directory.
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("usage errors wrote %d entries into the datastore directory", len(entries))
	}
}

// Precedence through the whole command: the datastore the guest actually
// wrote shows which of flag, NX_* environment, file and default won.
func TestCLI_ConfigPrecedenceEndToEnd(t *testing.T) {
	wasm := testutil.CGuest(t, "examples/hello_c/guest/hello.c")
	for _, tt := range []struct {
		name            string
		file, env, flag bool
		want            string
	}{
		{name: "default", want: "nx-data"},
		{name: "file", file: true, want: "from-file"},
		{name: "env_over_file", file: true, env: true, want: "from-env"},
		{name: "flag_over_env_and_file", file: true, env: true, flag: true, want: "from-flag"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			t.Chdir(root)
			args := []string{"run", wasm, "--compile-cache", "", "--log-level", "warn"}
			if tt.file {
				cfg := filepath.Join(root, "node.toml")
				if err := os.WriteFile(cfg, []byte("[storage]\ndatastore_path = \"from-file\"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--config", cfg)
			}
			if tt.env {
				t.Setenv("NX_DATASTORE_PATH", "from-env")
			} else {
				t.Setenv("NX_DATASTORE_PATH", "")
				os.Unsetenv("NX_DATASTORE_PATH")
			}
			if tt.flag {
				args = append(args, "--datastore-path", "from-flag")
			}
			if code, stdout, stderr := runCLI(t, args...); code != 0 {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			for _, d := range []string{"nx-data", "from-file", "from-env", "from-flag"} {
				_, err := os.Stat(filepath.Join(root, d))
				if exists := err == nil; exists != (d == tt.want) {
					t.Errorf("datastore %s exists=%v; want only %s", d, exists, tt.want)
				}
			}
		})
	}
}
