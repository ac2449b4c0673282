//go:build !unix

package store

import (
	"io"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// lockFile takes Pebble's file lock on path.
func lockFile(path string) (io.Closer, error) { return vfs.Default.Lock(path) }

func pebbleFS() vfs.FS { return vfs.Default }
