//go:build !wasip1

package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/numax/numax/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(testutil.Main(m)) }

func TestHelloWASI(t *testing.T) {
	wasm := testutil.GoCommand(t, "examples/hello_wasi")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no_args", nil, "hello_wasi: 0 args: \n"},
		{"args_after_dash", []string{"--", "alpha", "beta gamma"}, "hello_wasi: 2 args: alpha beta gamma\n"},
		{"flag_like_guest_args", []string{"--", "--datastore-path", "-v"}, "hello_wasi: 2 args: --datastore-path -v\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"run", wasm, "--datastore-path", t.TempDir()}, tt.args...)
			r := testutil.RunNX(t, time.Minute, nil, args...)
			if r.Code != 0 || r.Stdout != tt.want {
				t.Fatalf("exit %d stdout %q, want %q\nstderr: %s", r.Code, r.Stdout, tt.want, r.Stderr)
			}
			if !strings.Contains(r.Stderr, "argv[0] is "+wasm) {
				t.Fatalf("stderr: %s", r.Stderr)
			}
		})
	}
}
