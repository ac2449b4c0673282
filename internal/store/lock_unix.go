//go:build unix

package store

import (
	"errors"
	"io"
	"os"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/sys/unix"
)

// locked records the lock files this process holds: fcntl locks do not
// conflict within one process, so a second Open here must be refused by hand.
var locked struct {
	mu    sync.Mutex
	paths map[string]bool
}

type fileLock struct {
	path string
	f    *os.File
}

func (l *fileLock) Close() error {
	locked.mu.Lock()
	delete(locked.paths, l.path)
	locked.mu.Unlock()
	return l.f.Close()
}

// lockFile takes an exclusive fcntl lock on path (the same kind Pebble
// takes), opening it without truncating, so that taking the lock never
// changes the datastore (nx inspect must not write).
func lockFile(path string) (io.Closer, error) {
	locked.mu.Lock()
	defer locked.mu.Unlock()
	if locked.paths[path] {
		return nil, errors.New("lock held by this process")
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart}
	if err := unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk); err != nil {
		f.Close()
		return nil, err
	}
	if locked.paths == nil {
		locked.paths = map[string]bool{}
	}
	locked.paths[path] = true
	return &fileLock{path: path, f: f}, nil
}

// lockFS is Pebble's filesystem with its Lock replaced by lockFile, so that
// Pebble's own LOCK file is not truncated either.
type lockFS struct{ vfs.FS }

func (lockFS) Lock(name string) (io.Closer, error) { return lockFile(name) }

func pebbleFS() vfs.FS { return lockFS{vfs.Default} }
