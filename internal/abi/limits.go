package abi

import "fmt"

// Limits are the guest-facing bounds of docs/host-abi.md. Every field is settable in
// the `[limits]` section of the node configuration; zero is never valid.
type Limits struct {
	// MaxKey bounds keys, CRDT keys, map fields, set elements, scan prefixes
	// and cursors, in bytes.
	MaxKey uint32
	// MaxValue bounds db, LWW, map and RGA values, in bytes.
	MaxValue uint32
	// MaxOutput bounds any out_cap a guest passes, in bytes.
	MaxOutput uint32
	// MaxScanLimit is the largest page a scan may ask for (the smallest is 1).
	MaxScanLimit uint32
	// MaxLogMessage bounds one log line, in bytes. The levelled host_log_v2
	// truncates a longer line; the original 2-argument form refuses it (-3).
	MaxLogMessage uint32
	// MaxRandom bounds random_bytes output and hash input, in bytes.
	MaxRandom uint32
	// MaxEventName bounds an event name (at least 1 byte of [A-Za-z0-9_.:-]).
	MaxEventName uint32
	// MaxEventPayload bounds an event payload, in bytes.
	MaxEventPayload uint32
}

// Default limit values of docs/host-abi.md.
const (
	// DefaultMaxKey is 8 KiB, what the original runtime's host accepts (its
	// docs said 1024), so guests written for it keep working.
	DefaultMaxKey          = 8 << 10
	DefaultMaxValue        = 1 << 20
	DefaultMaxOutput       = 10 << 20
	DefaultMaxScanLimit    = 1024
	DefaultMaxLogMessage   = 64 << 10
	DefaultMaxRandom       = 1 << 20
	DefaultMaxEventName    = 128
	DefaultMaxEventPayload = 64 << 10
	// MaxEnvName is the longest readable env_get name. It is part of the
	// ABI, not a tunable limit.
	MaxEnvName = 128
)

// DefaultLimits returns the limits of docs/host-abi.md.
func DefaultLimits() Limits {
	return Limits{
		MaxKey:          DefaultMaxKey,
		MaxValue:        DefaultMaxValue,
		MaxOutput:       DefaultMaxOutput,
		MaxScanLimit:    DefaultMaxScanLimit,
		MaxLogMessage:   DefaultMaxLogMessage,
		MaxRandom:       DefaultMaxRandom,
		MaxEventName:    DefaultMaxEventName,
		MaxEventPayload: DefaultMaxEventPayload,
	}
}

// Validate reports the first limit that is zero.
func (l Limits) Validate() error {
	for _, f := range []struct {
		name string
		v    uint32
	}{
		{"max_key_size", l.MaxKey},
		{"max_value_size", l.MaxValue},
		{"max_output_size", l.MaxOutput},
		{"max_scan_limit", l.MaxScanLimit},
		{"max_log_message_size", l.MaxLogMessage},
		{"max_random_size", l.MaxRandom},
		{"max_event_name_size", l.MaxEventName},
		{"max_event_payload_size", l.MaxEventPayload},
	} {
		if f.v == 0 {
			return fmt.Errorf("limit %s must be greater than zero", f.name)
		}
	}
	return nil
}

// ValidEventName reports whether name is a valid event_emit name under l.
func (l Limits) ValidEventName(name []byte) bool {
	if len(name) == 0 || uint32(len(name)) > l.MaxEventName {
		return false
	}
	for _, c := range name {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '_', c == '.', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// ReadableEnvName reports whether env_get may read name: it must match
// ^(NX|NUMAX)_[A-Z0-9_]+$ and be at most MaxEnvName bytes.
func ReadableEnvName(name []byte) bool {
	if len(name) > MaxEnvName {
		return false
	}
	var rest []byte
	switch {
	case len(name) > 3 && string(name[:3]) == "NX_":
		rest = name[3:]
	case len(name) > 6 && string(name[:6]) == "NUMAX_":
		rest = name[6:]
	default:
		return false
	}
	for _, c := range rest {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
