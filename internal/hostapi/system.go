package hostapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"log/slog"
	"time"

	"github.com/tetratelabs/wazero/api"
	"lukechampine.com/blake3"

	"github.com/numax/numax/internal/abi"
)

func (h *Host) timeNow(_ context.Context, _ api.Module, s []uint64) {
	s[0] = uint64(time.Now().UnixMilli())
}

// timeMonotonic uses the monotonic reading inside Start, so it never
// decreases even if the wall clock is set back.
func (h *Host) timeMonotonic(_ context.Context, _ api.Module, s []uint64) {
	s[0] = uint64(time.Since(h.Start).Milliseconds())
}

func (h *Host) randomBytes(ctx context.Context, mod api.Module, s []uint64) {
	outP, n := u32(s[0]), u32(s[1])
	a := h.args(mod)
	a.read(outP, n, h.Limits.MaxRandom)
	if !a.ok() {
		ret(s, abi.ErrInternal)
		return
	}
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		ret(s, h.fail(ctx, mod, "random_bytes", err))
		return
	}
	ret(s, write(mod, outP, n, buf))
}

func (h *Host) hashSHA256(_ context.Context, mod api.Module, s []uint64) {
	h.hash(mod, s, func(b []byte) []byte { d := sha256.Sum256(b); return d[:] })
}

func (h *Host) hashBLAKE3(_ context.Context, mod api.Module, s []uint64) {
	h.hash(mod, s, func(b []byte) []byte { d := blake3.Sum256(b); return d[:] })
}

// hash implements (in_p, in_n, out_p, out_n): -2 when out_n < 32.
func (h *Host) hash(mod api.Module, s []uint64, sum func([]byte) []byte) {
	a := h.args(mod)
	in := a.read(u32(s[0]), u32(s[1]), h.Limits.MaxRandom)
	outP, outN := u32(s[2]), u32(s[3])
	a.out(outP, outN)
	if !a.ok() {
		ret(s, abi.ErrInternal)
		return
	}
	if outN < 32 {
		ret(s, abi.ErrBufferTooSmall)
		return
	}
	ret(s, write(mod, outP, outN, sum(in)))
}

func (h *Host) envGet(_ context.Context, mod api.Module, s []uint64) {
	a := h.args(mod)
	name := a.key(u32(s[0]), u32(s[1]))
	outP, outN := u32(s[2]), u32(s[3])
	a.out(outP, outN)
	if !a.ok() {
		ret(s, abi.ErrInternal)
		return
	}
	if !abi.ReadableEnvName(name) {
		ret(s, abi.ErrNotFound)
		return
	}
	v, ok := h.LookupEnv(string(name))
	if !ok {
		ret(s, abi.ErrNotFound)
		return
	}
	ret(s, write(mod, outP, outN, []byte(v)))
}

// outString implements the (out_p, out_n) readers of a fixed string.
func (h *Host) outString(mod api.Module, s []uint64, v string) {
	a := h.args(mod)
	outP, outN := u32(s[0]), u32(s[1])
	a.out(outP, outN)
	if !a.ok() {
		ret(s, abi.ErrInternal)
		return
	}
	ret(s, write(mod, outP, outN, []byte(v)))
}

func (h *Host) moduleID(_ context.Context, mod api.Module, s []uint64) {
	h.outString(mod, s, moduleName(mod))
}

var capabilities = abi.Capabilities()

func (h *Host) hostCapabilities(_ context.Context, mod api.Module, s []uint64) {
	h.outString(mod, s, capabilities)
}

func (h *Host) eventEmit(ctx context.Context, mod api.Module, s []uint64) {
	a := h.args(mod)
	name := a.read(u32(s[0]), u32(s[1]), h.Limits.MaxEventName)
	payload := a.read(u32(s[2]), u32(s[3]), h.Limits.MaxEventPayload)
	if a.ok() && !h.Limits.ValidEventName(name) {
		a.bad = true
	}
	if !a.ok() {
		ret(s, abi.ErrInternal)
		return
	}
	n := string(name)
	h.Logger.LogAttrs(ctx, slog.LevelInfo, "guest event",
		slog.String("module", moduleName(mod)), slog.String("event", n), slog.Int("payload_bytes", len(payload)))
	if h.OnEvent != nil {
		h.OnEvent(moduleName(mod), n, append([]byte(nil), payload...))
	}
	ret(s, abi.OK)
}

// abort ends the invocation: the panic unwinds through wazero, which returns
// it wrapped; the engine finds the *AbortError with errors.As.
func (h *Host) abort(_ context.Context, mod api.Module, s []uint64) {
	p, n := u32(s[0]), u32(s[1])
	if n > h.Limits.MaxLogMessage {
		n = h.Limits.MaxLogMessage
	}
	msg, ok := mod.Memory().Read(p, n)
	if !ok {
		panic(&AbortError{Message: "(message outside guest memory)"})
	}
	panic(&AbortError{Message: string(msg)})
}

// syncOut answers a sync-only reader: -3 for a bad buffer, -5 without sync,
// else the bytes of value.
func (h *Host) syncOut(mod api.Module, s []uint64, value func() []byte) {
	a := h.args(mod)
	outP, outN := u32(s[0]), u32(s[1])
	a.out(outP, outN)
	if code, ok := a.gate(); !ok {
		ret(s, code)
		return
	}
	if h.Sync == nil {
		ret(s, abi.ErrSyncDisabled)
		return
	}
	ret(s, write(mod, outP, outN, value()))
}

func (h *Host) netNodeID(_ context.Context, mod api.Module, s []uint64) {
	h.syncOut(mod, s, func() []byte { return []byte(h.Sync.NodeID()) })
}

func (h *Host) netPeers(_ context.Context, mod api.Module, s []uint64) {
	h.syncOut(mod, s, func() []byte { return abi.AppendPeers(nil, h.Sync.Peers()) })
}
