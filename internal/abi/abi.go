// Package abi holds the definitions that both sides of the guest/host boundary
// share: return codes, default limits, the table of `nx` functions with their
// exact WebAssembly types, and the list encodings of docs/host-abi.md.
//
// It has no dependencies outside the standard library and builds for the host
// and for GOOS=wasip1, so the guest SDK and the runtime cannot drift apart. It
// must never import wazero, the store or anything that does I/O.
package abi

// ModuleName is the import module of every host function.
const ModuleName = "nx"

// ReservedPrefix starts every key the runtime keeps for itself. Guests get
// ErrReservedKey for keys, prefixes and cursors that start with it.
const ReservedPrefix = "__nx/"

// Return codes of host functions. Values >= 0 mean success.
const (
	OK                int32 = 0
	ErrNotFound       int32 = -1
	ErrBufferTooSmall int32 = -2
	ErrInternal       int32 = -3
	ErrReservedKey    int32 = -4
	ErrSyncDisabled   int32 = -5
)

// CodeName returns the constant name of a negative return code, or "" for a
// success value.
func CodeName(code int32) string {
	switch code {
	case ErrNotFound:
		return "ERR_NOT_FOUND"
	case ErrBufferTooSmall:
		return "ERR_BUFFER_TOO_SMALL"
	case ErrInternal:
		return "ERR_INTERNAL"
	case ErrReservedKey:
		return "ERR_RESERVED_KEY"
	case ErrSyncDisabled:
		return "ERR_SYNC_DISABLED"
	}
	if code < 0 {
		return "ERR_UNKNOWN"
	}
	return ""
}

// Log levels of host_log_v2.
const (
	LevelTrace int32 = 0
	LevelDebug int32 = 1
	LevelInfo  int32 = 2
	LevelWarn  int32 = 3
	LevelError int32 = 4
)

// IsReserved reports whether b starts with ReservedPrefix.
func IsReserved(b []byte) bool {
	return len(b) >= len(ReservedPrefix) && string(b[:len(ReservedPrefix)]) == ReservedPrefix
}
