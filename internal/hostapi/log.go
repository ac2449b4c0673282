package hostapi

import (
	"context"
	"log/slog"

	"github.com/tetratelabs/wazero/api"

	"github.com/numax/numax/internal/abi"
)

// guestLevel maps host_log_v2 levels to slog; unknown levels are info.
func guestLevel(l int32) slog.Level {
	switch l {
	case abi.LevelTrace:
		return levelTrace
	case abi.LevelDebug:
		return slog.LevelDebug
	case abi.LevelWarn:
		return slog.LevelWarn
	case abi.LevelError:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// LevelTrace is the slog level guest trace lines are logged at.
const LevelTrace = levelTrace

func (h *Host) hostLog(ctx context.Context, mod api.Module, s []uint64) {
	h.guestLog(ctx, mod, slog.LevelInfo, u32(s[0]), u32(s[1]))
}

func (h *Host) hostLogV2(ctx context.Context, mod api.Module, s []uint64) {
	h.guestLog(ctx, mod, guestLevel(api.DecodeI32(s[0])), u32(s[1]), u32(s[2]))
}

// hostLogV2Original is host_log_v2 (ptr, len) -> i32 of the original
// runtime: info level, 0; -3 with nothing logged when the range cannot be
// read or the message is over the log limit (it is never truncated).
func (h *Host) hostLogV2Original(ctx context.Context, mod api.Module, s []uint64) {
	p, n := u32(s[0]), u32(s[1])
	if n > h.Limits.MaxLogMessage {
		ret(s, abi.ErrInternal)
		return
	}
	msg, ok := mod.Memory().Read(p, n)
	if !ok {
		ret(s, abi.ErrInternal)
		return
	}
	if h.Logger.Enabled(ctx, slog.LevelInfo) {
		h.Logger.LogAttrs(ctx, slog.LevelInfo, string(msg), slog.String("module", moduleName(mod)))
	}
	ret(s, abi.OK)
}

// guestLog logs one guest line. The functions return nothing, so a message
// over the limit is truncated (and marked), and one outside memory is
// replaced by a warning naming the bad range.
func (h *Host) guestLog(ctx context.Context, mod api.Module, level slog.Level, p, n uint32) {
	if !h.Logger.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{slog.String("module", moduleName(mod))}
	readN := n
	if readN > h.Limits.MaxLogMessage {
		readN = h.Limits.MaxLogMessage
		attrs = append(attrs, slog.Bool("truncated", true), slog.Uint64("len", uint64(n)))
	}
	msg, ok := mod.Memory().Read(p, readN)
	if !ok {
		h.Logger.LogAttrs(ctx, slog.LevelWarn, "guest log message outside guest memory",
			slog.String("module", moduleName(mod)), slog.Uint64("ptr", uint64(p)), slog.Uint64("len", uint64(n)))
		return
	}
	h.Logger.LogAttrs(ctx, level, string(msg), attrs...)
}
