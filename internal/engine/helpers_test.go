package engine

import (
	"io/fs"
	"path/filepath"
	"regexp"
	"testing"
)

func matches(s, pattern string) bool {
	return regexp.MustCompile(pattern).MatchString(s)
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
