package nx

import (
	"strconv"

	"github.com/numax/numax/internal/abi"
)

// Error is a negative host return code.
type Error int32

// The host's error codes; compare with errors.Is or ==.
const (
	ErrNotFound       Error = Error(abi.ErrNotFound)
	ErrBufferTooSmall Error = Error(abi.ErrBufferTooSmall)
	ErrInternal       Error = Error(abi.ErrInternal)
	ErrReservedKey    Error = Error(abi.ErrReservedKey)
	ErrSyncDisabled   Error = Error(abi.ErrSyncDisabled)
)

func (e Error) Error() string {
	return "nx: " + abi.CodeName(int32(e)) + " (" + strconv.Itoa(int(e)) + ")"
}

// Level is a log level of host_log_v2.
type Level int32

// Log levels.
const (
	LevelTrace Level = Level(abi.LevelTrace)
	LevelDebug Level = Level(abi.LevelDebug)
	LevelInfo  Level = Level(abi.LevelInfo)
	LevelWarn  Level = Level(abi.LevelWarn)
	LevelError Level = Level(abi.LevelError)
)

// KV is one row of a scan.
type KV struct {
	Key, Value []byte
}

// Peer is a connected sync peer.
type Peer = abi.Peer
