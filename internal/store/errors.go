package store

import "errors"

var (
	// ErrNotFound is returned by Get for an absent key.
	ErrNotFound = errors.New("store: key not found")
	// ErrInUse is returned by Open when another process (or another Store in
	// this process) holds the datastore.
	ErrInUse = errors.New("datastore is in use by another process")
	// ErrTooLarge is returned by Scan when a page passes ScanOptions.MaxBytes.
	ErrTooLarge = errors.New("store: scan page larger than the caller's buffer")
	// ErrClosed is returned by every call after Close.
	ErrClosed = errors.New("store: closed")
)

// FormatError reports a datastore whose format version this build does not
// know. It is never guessed at.
type FormatError struct {
	Dir     string
	Version string
}

func (e *FormatError) Error() string {
	return "datastore " + e.Dir + " has format version " + e.Version +
		", this nx supports version " + formatVersion + "; use a matching nx release"
}
