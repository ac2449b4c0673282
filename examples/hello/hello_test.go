//go:build !wasip1

package main

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/numax/numax/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(testutil.Main(m)) }

func TestHello(t *testing.T) {
	wasm := testutil.GoGuest(t, "examples/hello")
	r := testutil.RunNX(t, time.Minute, nil, "run", wasm, "--datastore-path", t.TempDir())
	if r.Code != 0 {
		t.Fatalf("exit %d\nstderr: %s", r.Code, r.Stderr)
	}
	// Every line names the node; guest lines also the module.
	want := `level=INFO msg="Hello from Numax!" node=[0-9a-f]{32} module=` + regexp.QuoteMeta(wasm)
	if !regexp.MustCompile(want).MatchString(r.Stderr) {
		t.Fatalf("stderr lacks %q:\n%s", want, r.Stderr)
	}
}

func TestHello_JSONLogs(t *testing.T) {
	wasm := testutil.GoGuest(t, "examples/hello")
	r := testutil.RunNX(t, time.Minute, nil, "run", wasm, "--datastore-path", t.TempDir(), "--log-format", "json", "-v")
	if r.Code != 0 {
		t.Fatalf("exit %d\nstderr: %s", r.Code, r.Stderr)
	}
	var seen []string
	for _, line := range strings.Split(strings.TrimSpace(r.Stderr), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON log line: %q", line)
		}
		if rec["module"] == wasm {
			seen = append(seen, rec["level"].(string)+" "+rec["msg"].(string))
		}
	}
	want := []string{"INFO Hello from Numax!", "DEBUG running as " + wasm}
	if strings.Join(seen, "|") != strings.Join(want, "|") && !strings.Contains(strings.Join(seen, "|"), strings.Join(want, "|")) {
		t.Fatalf("guest lines = %q, want %q", seen, want)
	}
}
