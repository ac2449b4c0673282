package engine

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// cacheMax is the most bytes the compilation cache keeps. wazero writes an
// entry per module build (about 10 MB for a Go guest) and never removes
// one, so a developer's cache would only grow; New trims it to cacheMax
// first, the least recently written entries first (one used again after
// that is compiled and written again).
const cacheMax = 1 << 30

// trimCache deletes the oldest files under dir until the rest hold at most
// limit bytes, and returns how many bytes it deleted. Files it cannot read
// or delete (another process's, say) are left; a trim is best effort.
func trimCache(dir string, limit int64) int64 {
	type entry struct {
		path string
		size int64
		mod  time.Time
	}
	var files []entry
	var total int64
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if info, err := d.Info(); err == nil {
			files = append(files, entry{path, info.Size(), info.ModTime()})
			total += info.Size()
		}
		return nil
	})
	if total <= limit {
		return 0
	}
	slices.SortFunc(files, func(a, b entry) int { return a.mod.Compare(b.mod) })
	var freed int64
	for _, f := range files {
		if total-freed <= limit {
			break
		}
		if os.Remove(f.path) == nil {
			freed += f.size
		}
	}
	return freed
}
