package main

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/numax/numax/internal/testutil"
)

// digest hashes every file of dir, by path.
func digest(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[p] = sha256.Sum256(b)
		return nil
	})
	return out
}

// Flipped bytes in a table file: reading it gives one nx: line naming the
// file and the checksum that failed, exit 1, no panic; the read-only open
// changes no byte; a guest that never reads the damaged keys still runs.
func TestCorruptTableReported(t *testing.T) {
	dir := t.TempDir()
	if r := testutil.RunNX(t, time.Minute, nil, "run", guest(t, "fill"), "--datastore-path", dir); r.Code != 0 {
		t.Fatalf("fill: %d %s", r.Code, r.Stderr)
	}
	ssts, _ := filepath.Glob(filepath.Join(dir, "pebble", "*.sst"))
	if len(ssts) == 0 {
		t.Fatal("no table file to damage")
	}
	b, err := os.ReadFile(ssts[0])
	if err != nil {
		t.Fatal(err)
	}
	for i := 1000; i < 1100; i++ {
		b[i] ^= 0xff
	}
	if err := os.WriteFile(ssts[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	before := digest(t, dir)
	if r := testutil.RunNX(t, time.Minute, nil, "check", "--datastore-path", dir); r.Code != 1 ||
		!strings.Contains(r.Stdout, filepath.Base(ssts[0])+": table: ") || !strings.Contains(r.Stdout, "checksum mismatch") ||
		!strings.Contains(r.Stdout, `holds keys guest key "k0`) {
		t.Fatalf("nx check on a damaged table: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r := testutil.RunNX(t, time.Minute, nil, "inspect", "--datastore-path", dir, "keys")
	lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
	if r.Code != 1 || len(lines) != 1 || !strings.HasPrefix(lines[0], "nx: datastore: on-disk corruption: "+ssts[0]) ||
		!strings.Contains(lines[0], "checksum mismatch") || strings.Contains(r.Stderr, "panic") {
		t.Fatalf("inspect on a damaged table: exit %d\n%s", r.Code, tail(r.Stderr))
	}
	after := digest(t, dir)
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatal("nx check or a read-only inspect changed the datastore's files")
	}
	// A guest that does not read the damaged keys runs.
	if r := testutil.RunNX(t, time.Minute, nil, "run", guest(t, "probe"), "--datastore-path", dir); strings.Contains(r.Stderr, "panic") {
		t.Fatalf("nx run panicked on a datastore with a damaged table:\n%s", tail(r.Stderr))
	}
}
