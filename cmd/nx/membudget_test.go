package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/numax/numax/internal/testutil"
)

// nx run applies [limits] memory_budget to its own process: the Go
// runtime's soft limit is the budget minus the reserve, "0" sets none, and
// GOMEMLIMIT in the environment wins.
func TestRun_MemoryBudget(t *testing.T) {
	g := testutil.CGuest(t, "examples/hello_c/guest/hello.c")
	for _, c := range []struct {
		name, toml string
		env        []string
		want       string // in the debug log, or "" for no budget line
	}{
		{"default", "", nil, "go_limit_bytes=67108864"},
		{"configured", "[limits]\nmemory_budget = \"128MiB\"\n", nil, "go_limit_bytes=100663296"},
		{"off", "[limits]\nmemory_budget = \"0\"\n", nil, ""},
		{"GOMEMLIMIT wins", "", []string{"GOMEMLIMIT=1GiB"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "nx.toml")
			if err := os.WriteFile(cfg, []byte(c.toml), 0o644); err != nil {
				t.Fatal(err)
			}
			env := append([]string{"GOMEMLIMIT="}, c.env...)
			r := testutil.RunNX(t, time.Minute, env, "run", g, "--datastore-path", filepath.Join(dir, "data"),
				"--config", cfg, "--log-level", "debug")
			if r.Code != 0 {
				t.Fatalf("nx run: %d\n%s", r.Code, r.Stderr)
			}
			line := ""
			for _, l := range strings.Split(r.Stderr, "\n") {
				if strings.Contains(l, `msg="memory budget"`) {
					line = l
				}
			}
			switch {
			case c.want == "" && line != "":
				t.Fatalf("a budget was applied: %s", line)
			case c.want != "" && !strings.Contains(line, c.want):
				t.Fatalf("want a budget line with %s, got %q", c.want, line)
			}
		})
	}
}
