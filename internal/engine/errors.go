package engine

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrNotWasm is returned for input that is not a WebAssembly binary.
	ErrNotWasm = errors.New("not a WebAssembly module (missing \\0asm magic header)")
	// ErrNoEntryPoint is returned for a module that exports neither `run`
	// nor `_start`.
	ErrNoEntryPoint = errors.New("module exports no entry point: want a function `run` or `_start` of type () -> ()")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("engine: closed")
)

// ImportError reports an import the runtime does not provide, or one with
// the wrong type.
type ImportError struct {
	Module, Name string
	// Want is the type the runtime provides ("" if it provides nothing by
	// that name); Got is the type the guest declared.
	Want, Got string
}

func (e *ImportError) Error() string {
	if e.Want == "" {
		return fmt.Sprintf("unknown import %s.%s %s: the runtime provides only the %q host functions and %q",
			e.Module, e.Name, e.Got, "nx", "wasi_snapshot_preview1")
	}
	return fmt.Sprintf("import %s.%s has type %s, want %s", e.Module, e.Name, e.Got, e.Want)
}

// CompileError wraps a module wazero refused to decode, validate or compile.
type CompileError struct{ Err error }

func (e *CompileError) Error() string { return "invalid module: " + firstLine(e.Err.Error()) }
func (e *CompileError) Unwrap() error { return e.Err }

// TimeoutError reports an invocation stopped at the wall-time limit.
type TimeoutError struct{ Limit time.Duration }

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("guest stopped: invocation exceeded the time limit of %s (limits.guest_timeout)", e.Limit)
}

// MemoryLimitError reports a guest whose memory would have passed the cap.
type MemoryLimitError struct {
	// Limit is the cap; Requested the size the guest asked for (0 if
	// unknown).
	Limit, Requested uint64
	// Declared is true when the module's declared initial memory is over
	// the cap, so it never started.
	Declared bool
	// Err is how the invocation ended, if it did not end normally.
	Err error
}

func (e *MemoryLimitError) Error() string {
	if e.Declared {
		if e.Requested == 0 {
			return fmt.Sprintf("module declares more initial memory than the limit of %s (limits.guest_memory)", formatBytes(e.Limit))
		}
		return fmt.Sprintf("module declares %s of initial memory, over the limit of %s (limits.guest_memory)",
			formatBytes(e.Requested), formatBytes(e.Limit))
	}
	return fmt.Sprintf("guest stopped: memory limit of %s reached (asked to grow to %s; limits.guest_memory)",
		formatBytes(e.Limit), formatBytes(e.Requested))
}
func (e *MemoryLimitError) Unwrap() error { return e.Err }

// TrapError reports a guest that trapped (unreachable, out-of-bounds access,
// division by zero, ...). Detail holds wazero's full text with the wasm stack.
type TrapError struct {
	Message string
	Detail  string
	Err     error
}

func (e *TrapError) Error() string { return "guest trapped: " + e.Message }
func (e *TrapError) Unwrap() error { return e.Err }

// ExitError reports a WASI guest that called proc_exit with a non-zero code.
type ExitError struct{ Code uint32 }

func (e *ExitError) Error() string { return fmt.Sprintf("guest exited with code %d", e.Code) }

// CanceledError reports an invocation stopped because its context was
// canceled (the node is shutting down).
type CanceledError struct{ Err error }

func (e *CanceledError) Error() string { return "guest stopped: node is shutting down" }
func (e *CanceledError) Unwrap() error { return e.Err }

func firstLine(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}

func formatBytes(n uint64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// CheckMagic returns ErrNotWasm unless b starts with the WebAssembly magic.
func CheckMagic(b []byte) error {
	if len(b) < 4 || string(b[:4]) != "\x00asm" {
		return ErrNotWasm
	}
	return nil
}
