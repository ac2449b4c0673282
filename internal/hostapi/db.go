package hostapi

import (
	"context"
	"errors"

	"github.com/tetratelabs/wazero/api"

	"github.com/numax/numax/internal/abi"
	"github.com/numax/numax/internal/store"
)

func (h *Host) dbGet(ctx context.Context, mod api.Module, s []uint64) {
	a := h.args(mod)
	k := a.key(u32(s[0]), u32(s[1]))
	outP, outN := u32(s[2]), u32(s[3])
	a.out(outP, outN)
	if code, ok := a.gate(k); !ok {
		ret(s, code)
		return
	}
	v, err := h.Store.Get(store.Guest, k)
	switch {
	case errors.Is(err, store.ErrNotFound):
		ret(s, abi.ErrNotFound)
	case err != nil:
		ret(s, h.fail(ctx, mod, "db_get", err))
	default:
		ret(s, write(mod, outP, outN, v))
	}
}

func (h *Host) dbSet(ctx context.Context, mod api.Module, s []uint64) {
	a := h.args(mod)
	k := a.key(u32(s[0]), u32(s[1]))
	v := a.value(u32(s[2]), u32(s[3]))
	if code, ok := a.gate(k); !ok {
		ret(s, code)
		return
	}
	if _, err := h.Store.Set(store.Guest, k, v); err != nil {
		ret(s, h.fail(ctx, mod, "db_set", err))
		return
	}
	ret(s, abi.OK)
}

func (h *Host) dbDelete(ctx context.Context, mod api.Module, s []uint64) {
	a := h.args(mod)
	k := a.key(u32(s[0]), u32(s[1]))
	if code, ok := a.gate(k); !ok {
		ret(s, code)
		return
	}
	if _, err := h.Store.Delete(store.Guest, k); err != nil {
		ret(s, h.fail(ctx, mod, "db_delete", err))
		return
	}
	ret(s, abi.OK)
}

func (h *Host) dbExists(ctx context.Context, mod api.Module, s []uint64) {
	a := h.args(mod)
	k := a.key(u32(s[0]), u32(s[1]))
	if code, ok := a.gate(k); !ok {
		ret(s, code)
		return
	}
	ok, err := h.Store.Exists(store.Guest, k)
	switch {
	case err != nil:
		ret(s, h.fail(ctx, mod, "db_exists", err))
	case ok:
		ret(s, 1)
	default:
		ret(s, 0)
	}
}

func (a *args) limit(n uint32) int {
	if n == 0 || n > a.lim.MaxScanLimit {
		a.bad = true
	}
	return int(n)
}

// dbScanOffset implements db_scan and db_keys:
// (prefix_p, prefix_n, cursor i64, limit, out_p, out_n).
func (h *Host) dbScanOffset(keysOnly bool) api.GoModuleFunc {
	name := "db_scan"
	if keysOnly {
		name = "db_keys"
	}
	return func(ctx context.Context, mod api.Module, s []uint64) {
		a := h.args(mod)
		prefix := a.key(u32(s[0]), u32(s[1]))
		limit := a.limit(u32(s[3]))
		outP, outN := u32(s[4]), u32(s[5])
		a.out(outP, outN)
		if code, ok := a.gate(prefix); !ok {
			ret(s, code)
			return
		}
		ret(s, h.scan(ctx, mod, name, store.ScanOptions{
			Prefix: prefix, Offset: s[2], Limit: limit, KeysOnly: keysOnly,
		}, outP, outN))
	}
}

// dbScanAfter implements db_scan_after and db_keys_after:
// (prefix_p, prefix_n, after_p, after_n, limit, out_p, out_n).
func (h *Host) dbScanAfter(keysOnly bool) api.GoModuleFunc {
	name := "db_scan_after"
	if keysOnly {
		name = "db_keys_after"
	}
	return func(ctx context.Context, mod api.Module, s []uint64) {
		a := h.args(mod)
		prefix := a.key(u32(s[0]), u32(s[1]))
		after := a.key(u32(s[2]), u32(s[3]))
		limit := a.limit(u32(s[4]))
		outP, outN := u32(s[5]), u32(s[6])
		a.out(outP, outN)
		if a.ok() && len(after) > 0 && !hasPrefix(after, prefix) {
			a.bad = true // the cursor must lie under the prefix
		}
		if code, ok := a.gate(prefix, after); !ok {
			ret(s, code)
			return
		}
		ret(s, h.scan(ctx, mod, name, store.ScanOptions{
			Prefix: prefix, After: after, Limit: limit, KeysOnly: keysOnly,
		}, outP, outN))
	}
}

func hasPrefix(b, prefix []byte) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == string(prefix)
}

// scan reads one page and writes it in the list encoding. The whole page
// must fit in the buffer, else -2: a page is fixed by (prefix, cursor, limit),
// never by the buffer the guest happened to pass.
func (h *Host) scan(ctx context.Context, mod api.Module, name string, o store.ScanOptions, outP, outN uint32) int32 {
	o.Skip = abi.IsReserved
	o.MaxBytes = int(outN)
	rows, err := h.Store.Scan(store.Guest, o)
	if errors.Is(err, store.ErrTooLarge) {
		return abi.ErrBufferTooSmall
	}
	if err != nil {
		return h.fail(ctx, mod, name, err)
	}
	var buf []byte
	if o.KeysOnly {
		keys := make([][]byte, len(rows))
		for i, r := range rows {
			keys[i] = r.Key
		}
		if abi.ListSize(keys) > int(outN) {
			return abi.ErrBufferTooSmall
		}
		buf = abi.AppendList(make([]byte, 0, abi.ListSize(keys)), keys)
	} else {
		ar := make([]abi.Row, len(rows))
		for i, r := range rows {
			ar[i] = abi.Row{Key: r.Key, Value: r.Value}
		}
		if abi.RowsSize(ar) > int(outN) {
			return abi.ErrBufferTooSmall
		}
		buf = abi.AppendRows(make([]byte, 0, abi.RowsSize(ar)), ar)
	}
	return write(mod, outP, outN, buf)
}
