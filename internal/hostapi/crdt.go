package hostapi

import (
	"context"
	"unicode/utf8"

	"github.com/tetratelabs/wazero/api"

	"github.com/numax/numax/internal/abi"
)

// argKind says how one argument of a crdt_* function is validated.
type argKind int

const (
	argKey    argKind = iota // CRDT key: (p, n), <= MaxKey, UTF-8, reserved prefix checked
	argField                 // map field or set element: (p, n), <= MaxKey
	argValue                 // value: (p, n), <= MaxValue
	argDelta                 // counter delta: one i64, any value
	argOut                   // output buffer: (p, n), <= MaxOutput
	argParent                // RGA parent: (p, n), empty (head) or an OpId
	argID                    // RGA element id: (p, n), an OpId
)

// slots is how many stack values an argument takes.
func (k argKind) slots() int {
	if k == argDelta {
		return 1
	}
	return 2
}

// crdtArgs lists the arguments of every crdt_* function in order. A test
// checks it against abi.Functions so the two cannot disagree.
var crdtArgs = map[string][]argKind{
	"crdt_gcounter_inc":     {argKey, argDelta},
	"crdt_gcounter_value":   {argKey, argOut},
	"crdt_pncounter_inc":    {argKey, argDelta},
	"crdt_pncounter_dec":    {argKey, argDelta},
	"crdt_pncounter_value":  {argKey, argOut},
	"crdt_lww_set":          {argKey, argValue},
	"crdt_lww_get":          {argKey, argOut},
	"crdt_lww_map_set":      {argKey, argField, argValue},
	"crdt_lww_map_remove":   {argKey, argField},
	"crdt_lww_map_get":      {argKey, argField, argOut},
	"crdt_lww_map_contains": {argKey, argField},
	"crdt_lww_map_entries":  {argKey, argOut},
	"crdt_orset_add":        {argKey, argField},
	"crdt_orset_remove":     {argKey, argField},
	"crdt_orset_contains":   {argKey, argField},
	"crdt_orset_elements":   {argKey, argOut},
	"crdt_rga_insert":       {argKey, argParent, argValue, argOut},
	"crdt_rga_delete":       {argKey, argID},
	"crdt_rga_values":       {argKey, argOut},
	"crdt_rga_elements":     {argKey, argOut},
}

func (h *Host) crdtFunctions() map[string]api.GoModuleFunc {
	m := make(map[string]api.GoModuleFunc, len(crdtArgs))
	for name, kinds := range crdtArgs {
		m[name] = h.crdtCall(kinds)
	}
	return m
}

// crdtCall validates a crdt_* call in the spec's order: arguments and limits
// (-3), reserved key (-4), sync enabled (-5). This node has no replicated
// state engine (that is issue 3), so a valid call answers -5.
func (h *Host) crdtCall(kinds []argKind) api.GoModuleFunc {
	return func(ctx context.Context, mod api.Module, s []uint64) {
		a := h.args(mod)
		var key []byte
		i := 0
		for _, k := range kinds {
			switch k {
			case argKey:
				key = a.key(u32(s[i]), u32(s[i+1]))
				if a.ok() && !utf8.Valid(key) {
					a.bad = true
				}
			case argField:
				a.key(u32(s[i]), u32(s[i+1]))
			case argValue:
				a.value(u32(s[i]), u32(s[i+1]))
			case argOut:
				a.out(u32(s[i]), u32(s[i+1]))
			case argParent, argID:
				id := a.key(u32(s[i]), u32(s[i+1]))
				if a.ok() && (k == argID || len(id) > 0) {
					if _, _, err := abi.ParseOpID(id); err != nil {
						a.bad = true
					}
				}
			}
			i += k.slots()
		}
		if !a.ok() {
			ret(s, abi.ErrInternal)
			return
		}
		if abi.IsReserved(key) {
			ret(s, abi.ErrReservedKey)
			return
		}
		ret(s, abi.ErrSyncDisabled)
	}
}
