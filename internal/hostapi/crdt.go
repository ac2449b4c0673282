package hostapi

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/tetratelabs/wazero/api"

	"github.com/numax/numax/internal/abi"
	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/replica"
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
	argIndex                 // Text position: one i64, >= 0
	argCount                 // Text character count: one i64, >= 0
	argText                  // Text string: (p, n), <= MaxValue, UTF-8
	argAfter                 // scan cursor: (p, n), <= MaxKey, empty = from the start
	argLimit                 // scan page size: one i32, 1 ... MaxScanLimit
)

// slots is how many stack values an argument takes.
func (k argKind) slots() int {
	if k == argDelta || k == argIndex || k == argCount || k == argLimit {
		return 1
	}
	return 2
}

// crdtCall is a validated crdt_* call: its decoded arguments.
type crdtCall struct {
	key          string
	field, value []byte
	delta        uint64
	index, count uint64
	length       int64 // crdt_text_len's answer, when it returns OK
	after        []byte
	limit        int
	ref          crdt.OpID
	outP, outN   uint32
}

type crdtFunc func(ctx context.Context, h *Host, mod api.Module, c *crdtCall) int32

// callPool holds crdtCalls between calls: a crdtFunc keeps nothing of its
// crdtCall past its return (what an op keeps, it copies).
var callPool = sync.Pool{New: func() any { return new(crdtCall) }}

// crdtFuncs lists every crdt_* function: its arguments in order and what it
// does once they are valid. A test checks the arguments against
// abi.Functions so the two cannot disagree.
var crdtFuncs = map[string]struct {
	args []argKind
	do   crdtFunc
}{
	"crdt_gcounter_inc":     {[]argKind{argKey, argDelta}, counterAdd(crdt.GCounterInc)},
	"crdt_gcounter_value":   {[]argKind{argKey, argOut}, gcounterValue},
	"crdt_pncounter_inc":    {[]argKind{argKey, argDelta}, counterAdd(crdt.PNCounterInc)},
	"crdt_pncounter_dec":    {[]argKind{argKey, argDelta}, counterAdd(crdt.PNCounterDec)},
	"crdt_pncounter_value":  {[]argKind{argKey, argOut}, pncounterValue},
	"crdt_lww_set":          {[]argKind{argKey, argValue}, lwwSet},
	"crdt_lww_get":          {[]argKind{argKey, argOut}, lwwGet},
	"crdt_lww_map_set":      {[]argKind{argKey, argField, argValue}, mapSet},
	"crdt_lww_map_remove":   {[]argKind{argKey, argField}, mapRemove},
	"crdt_lww_map_get":      {[]argKind{argKey, argField, argOut}, mapGet},
	"crdt_lww_map_contains": {[]argKind{argKey, argField}, mapContains},
	"crdt_lww_map_entries":  {[]argKind{argKey, argOut}, mapEntries},
	"crdt_orset_add":        {[]argKind{argKey, argField}, setAdd},
	"crdt_orset_remove":     {[]argKind{argKey, argField}, setRemove},
	"crdt_orset_contains":   {[]argKind{argKey, argField}, setContains},
	"crdt_orset_elements":   {[]argKind{argKey, argOut}, setElements},
	"crdt_rga_insert":       {[]argKind{argKey, argParent, argValue, argOut}, rgaInsert},
	"crdt_rga_delete":       {[]argKind{argKey, argID}, rgaDelete},
	"crdt_rga_values":       {[]argKind{argKey, argOut}, rgaValues},
	"crdt_rga_elements":     {[]argKind{argKey, argOut}, rgaElements},
	"crdt_lww_map_scan":     {[]argKind{argKey, argAfter, argLimit, argOut}, mapScan},
	"crdt_orset_scan":       {[]argKind{argKey, argAfter, argLimit, argOut}, setScan},
	"crdt_rga_slice":        {[]argKind{argKey, argIndex, argCount, argOut}, rgaSlice},
	"crdt_text_insert":      {[]argKind{argKey, argIndex, argText}, textInsert},
	"crdt_text_delete":      {[]argKind{argKey, argIndex, argCount}, textDelete},
	"crdt_text_len":         {[]argKind{argKey}, textLen},
	"crdt_text_read":        {[]argKind{argKey, argIndex, argCount, argOut}, textRead},
}

func (h *Host) crdtFunctions() map[string]api.GoModuleFunc {
	m := make(map[string]api.GoModuleFunc, len(crdtFuncs))
	for name, f := range crdtFuncs {
		m[name] = h.crdtEntry(name, f.args, f.do)
	}
	return m
}

// crdtEntry validates a crdt_* call in the spec's order — arguments and
// limits (-3), reserved key (-4), sync enabled (-5) — then runs it.
func (h *Host) crdtEntry(name string, kinds []argKind, do crdtFunc) api.GoModuleFunc {
	// crdt_text_len is the one crdt_* function whose result is an i64: the
	// length it read, or a negative code.
	i64 := name == "crdt_text_len"
	reply := func(s []uint64, code int32, c *crdtCall) {
		switch {
		case !i64:
			ret(s, code)
		case code == abi.OK:
			s[0] = api.EncodeI64(c.length)
		default:
			s[0] = api.EncodeI64(int64(code))
		}
	}
	// The key most calls of this function name (a guest writes to a few
	// objects): its string is made once, not per call.
	var lastKey atomic.Pointer[string]
	return func(ctx context.Context, mod api.Module, s []uint64) {
		a := h.args(mod)
		c := callPool.Get().(*crdtCall)
		defer func() { *c = crdtCall{}; callPool.Put(c) }()
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
				c.field = a.key(u32(s[i]), u32(s[i+1]))
			case argValue:
				c.value = a.value(u32(s[i]), u32(s[i+1]))
			case argDelta:
				c.delta = s[i]
			case argIndex, argCount:
				if int64(s[i]) < 0 {
					a.bad = true
				}
				if k == argIndex {
					c.index = s[i]
				} else {
					c.count = s[i]
				}
			case argAfter:
				c.after = a.key(u32(s[i]), u32(s[i+1]))
			case argLimit:
				c.limit = a.limit(u32(s[i]))
			case argText:
				c.value = a.value(u32(s[i]), u32(s[i+1]))
				if a.ok() && !utf8.Valid(c.value) {
					a.bad = true
				}
			case argOut:
				c.outP, c.outN = u32(s[i]), u32(s[i+1])
				a.out(c.outP, c.outN)
			case argParent, argID:
				id := a.key(u32(s[i]), u32(s[i+1]))
				if a.ok() && (k == argID || len(id) > 0) {
					ref, err := crdt.ParseOpID(id)
					if err != nil {
						a.bad = true
					}
					c.ref = ref
				}
			}
			i += k.slots()
		}
		if code, ok := a.gate(key); !ok {
			reply(s, code, c)
			return
		}
		if h.Sync == nil {
			reply(s, abi.ErrSyncDisabled, c)
			return
		}
		// Guest memory is a view; the op keeps its own copies.
		if k := lastKey.Load(); k != nil && *k == string(key) {
			c.key = *k
		} else {
			k := string(key)
			c.key = k
			lastKey.Store(&k)
		}
		c.field = append([]byte(nil), c.field...)
		c.value = append([]byte(nil), c.value...)
		c.after = append([]byte(nil), c.after...)
		code := do(ctx, h, mod, c)
		if code == abi.ErrInternal {
			h.Logger.Debug("crdt call failed", "module", moduleName(mod), "func", name, "key", c.key)
		}
		reply(s, code, c)
	}
}

// writeOp applies a local op and maps the replica's answer to a code.
func (h *Host) writeOp(ctx context.Context, mod api.Module, op *crdt.Op, accept func(crdt.OpID) bool) (crdt.OpID, int32) {
	id, err := h.Sync.Write(ctx, op, accept)
	switch {
	case err == nil:
		return id, abi.OK
	case errors.Is(err, replica.ErrNoop):
		return id, abi.OK
	case errors.Is(err, replica.ErrNotFound):
		return id, abi.ErrNotFound
	case errors.Is(err, replica.ErrRejected):
		return id, abi.ErrBufferTooSmall
	case errors.Is(err, replica.ErrRange):
		return id, abi.ErrInternal
	}
	return id, h.fail(ctx, mod, op.Kind.String(), err)
}

func counterAdd(k crdt.Kind) crdtFunc {
	return func(ctx context.Context, h *Host, mod api.Module, c *crdtCall) int32 {
		_, code := h.writeOp(ctx, mod, &crdt.Op{Kind: k, Key: c.key, Delta: c.delta}, nil)
		return code
	}
}

// read runs f on object (t, key) under the replica's lock.
func read[T crdt.Object](h *Host, t crdt.Type, key string, f func(obj T, ok bool)) {
	h.Sync.Read(crdt.ObjKey{Type: t, Key: key}, func(o crdt.Object) {
		obj, ok := o.(T)
		f(obj, ok)
	})
}

func gcounterValue(_ context.Context, h *Host, mod api.Module, c *crdtCall) int32 {
	var v uint64
	read(h, crdt.TypeGCounter, c.key, func(g *crdt.GCounter, ok bool) {
		if ok {
			v = g.Value()
		}
	})
	return write(mod, c.outP, c.outN, binary.LittleEndian.AppendUint64(nil, v))
}

func pncounterValue(_ context.Context, h *Host, mod api.Module, c *crdtCall) int32 {
	var v int64
	read(h, crdt.TypePNCounter, c.key, func(p *crdt.PNCounter, ok bool) {
		if ok {
			v = p.Value()
		}
	})
	return write(mod, c.outP, c.outN, binary.LittleEndian.AppendUint64(nil, uint64(v)))
}

func lwwSet(ctx context.Context, h *Host, mod api.Module, c *crdtCall) int32 {
	_, code := h.writeOp(ctx, mod, &crdt.Op{Kind: crdt.LWWSet, Key: c.key, Value: c.value}, nil)
	return code
}

func lwwGet(_ context.Context, h *Host, mod api.Module, c *crdtCall) int32 {
	code := abi.ErrNotFound
	read(h, crdt.TypeLWWRegister, c.key, func(r *crdt.LWWRegister, ok bool) {
		if ok && r.Set {
			code = write(mod, c.outP, c.outN, r.Value)
		}
	})
	return code
}

func mapSet(ctx context.Context, h *Host, mod api.Module, c *crdtCall) int32 {
	_, code := h.writeOp(ctx, mod, &crdt.Op{Kind: crdt.LWWMapSet, Key: c.key, Field: c.field, Value: c.value}, nil)
	return code
}

func mapRemove(ctx context.Context, h *Host, mod api.Module, c *crdtCall) int32 {
	_, code := h.writeOp(ctx, mod, &crdt.Op{Kind: crdt.LWWMapRemove, Key: c.key, Field: c.field}, nil)
	return code
}

func mapGet(_ context.Context, h *Host, mod api.Module, c *crdtCall) int32 {
	code := abi.ErrNotFound
	read(h, crdt.TypeLWWMap, c.key, func(m *crdt.LWWMap, ok bool) {
		if !ok {
			return
		}
		if v, found := m.Get(c.field); found {
			code = write(mod, c.outP, c.outN, v)
		}
	})
	return code
}

func mapContains(_ context.Context, h *Host, _ api.Module, c *crdtCall) int32 {
	var code int32
	read(h, crdt.TypeLWWMap, c.key, func(m *crdt.LWWMap, ok bool) {
		if _, found := m.Get(c.field); ok && found {
			code = 1
		}
	})
	return code
}

func mapEntries(_ context.Context, h *Host, mod api.Module, c *crdtCall) int32 {
	var buf []byte
	read(h, crdt.TypeLWWMap, c.key, func(m *crdt.LWWMap, ok bool) {
		var pairs []abi.Row
		if ok {
			fields, values := m.Entries()
			for i := range fields {
				pairs = append(pairs, abi.Row{Key: fields[i], Value: values[i]})
			}
		}
		buf = abi.AppendPairs(nil, pairs)
	})
	return write(mod, c.outP, c.outN, buf)
}

func setAdd(ctx context.Context, h *Host, mod api.Module, c *crdtCall) int32 {
	_, code := h.writeOp(ctx, mod, &crdt.Op{Kind: crdt.ORSetAdd, Key: c.key, Field: c.field}, nil)
	return code
}

func setRemove(ctx context.Context, h *Host, mod api.Module, c *crdtCall) int32 {
	_, code := h.writeOp(ctx, mod, &crdt.Op{Kind: crdt.ORSetRemove, Key: c.key, Field: c.field}, nil)
	return code
}

func setContains(_ context.Context, h *Host, _ api.Module, c *crdtCall) int32 {
	var code int32
	read(h, crdt.TypeORSet, c.key, func(s *crdt.ORSet, ok bool) {
		if ok && s.Contains(c.field) {
			code = 1
		}
	})
	return code
}

func setElements(_ context.Context, h *Host, mod api.Module, c *crdtCall) int32 {
	var buf []byte
	read(h, crdt.TypeORSet, c.key, func(s *crdt.ORSet, ok bool) {
		var elems [][]byte
		if ok {
			elems = s.Elements()
		}
		buf = abi.AppendList(nil, elems)
	})
	return write(mod, c.outP, c.outN, buf)
}

// rgaInsert writes the new element's id; if it would not fit in the output
// buffer the insert does not happen (-2, no op emitted).
func rgaInsert(ctx context.Context, h *Host, mod api.Module, c *crdtCall) int32 {
	fits := func(id crdt.OpID) bool { return uint64(len(id.String())) <= uint64(c.outN) }
	id, code := h.writeOp(ctx, mod, &crdt.Op{Kind: crdt.RGAInsert, Key: c.key, Ref: c.ref, Value: c.value}, fits)
	if code != abi.OK {
		return code
	}
	return write(mod, c.outP, c.outN, []byte(id.String()))
}

func rgaDelete(ctx context.Context, h *Host, mod api.Module, c *crdtCall) int32 {
	_, code := h.writeOp(ctx, mod, &crdt.Op{Kind: crdt.RGADelete, Key: c.key, Ref: c.ref}, nil)
	return code
}

func rgaValues(_ context.Context, h *Host, mod api.Module, c *crdtCall) int32 {
	var buf []byte
	read(h, crdt.TypeRGA, c.key, func(r *crdt.RGA, ok bool) {
		var vals [][]byte
		if ok {
			for _, e := range r.Visible() {
				vals = append(vals, e.Value)
			}
		}
		buf = abi.AppendList(nil, vals)
	})
	return write(mod, c.outP, c.outN, buf)
}

func rgaElements(_ context.Context, h *Host, mod api.Module, c *crdtCall) int32 {
	var buf []byte
	read(h, crdt.TypeRGA, c.key, func(r *crdt.RGA, ok bool) {
		var pairs []abi.Row
		if ok {
			for _, e := range r.Visible() {
				pairs = append(pairs, abi.Row{Key: []byte(e.ID.String()), Value: e.Value})
			}
		}
		buf = abi.AppendPairs(nil, pairs)
	})
	return write(mod, c.outP, c.outN, buf)
}

// textInsert inserts c.value so its first character has visible index
// c.index; -3 past the end (checked under the replica's lock).
func textInsert(ctx context.Context, h *Host, mod api.Module, c *crdtCall) int32 {
	if len(c.value) == 0 {
		return h.textCheck(c.key, c.index)
	}
	op := newTextOp(crdt.TextInsert, c.key, c.index, 0)
	op.Value = c.value
	_, code := h.writeOp(ctx, mod, op, nil)
	return code
}

// textOp is a Text op and its position, made in one allocation.
type textOp struct {
	op crdt.Op
	at crdt.TextPos
}

func newTextOp(kind crdt.Kind, key string, index, count uint64) *crdt.Op {
	o := &textOp{at: crdt.TextPos{Index: index, Count: count}}
	o.op = crdt.Op{Kind: kind, Key: key, At: &o.at}
	return &o.op
}

// textCheck answers an empty insert: nothing changes, but a position past
// the end is still -3.
func (h *Host) textCheck(key string, index uint64) int32 {
	if index > 0 && index > uint64(h.Sync.TextLen(key)) {
		return abi.ErrInternal
	}
	return abi.OK
}

// textDelete deletes c.count visible characters from c.index, as one op or,
// for a delete of more than crdt.MaxTextRanges pieces, several; -3 past the
// end with nothing deleted.
func textDelete(ctx context.Context, h *Host, mod api.Module, c *crdtCall) int32 {
	if code := h.textCheck(c.key, c.index+c.count); code != abi.OK || c.index+c.count < c.index {
		return abi.ErrInternal
	}
	for left := c.count; left > 0; {
		op := newTextOp(crdt.TextDelete, c.key, c.index, left)
		if _, code := h.writeOp(ctx, mod, op, nil); code != abi.OK {
			return code
		}
		if op.At.Count == 0 || op.At.Count > left {
			return abi.ErrInternal
		}
		left -= op.At.Count
	}
	return abi.OK
}

func textLen(_ context.Context, h *Host, _ api.Module, c *crdtCall) int32 {
	c.length = int64(h.Sync.TextLen(c.key))
	return abi.OK
}

// textRead writes the UTF-8 of the visible characters [c.index,
// c.index+c.count), the count clamped to the end; -3 for a start past the
// end, -2 if it does not fit.
func textRead(_ context.Context, h *Host, mod api.Module, c *crdtCall) int32 {
	s, err := h.Sync.SliceText(c.key, c.index, c.count)
	if err != nil {
		return abi.ErrInternal
	}
	return write(mod, c.outP, c.outN, []byte(s))
}

// mapScan writes up to c.limit present fields after c.after, in field
// order, as crdt_lww_map_entries does; the whole page must fit (-2).
func mapScan(ctx context.Context, h *Host, mod api.Module, c *crdtCall) int32 {
	rows, err := h.Sync.ScanMap(c.key, c.after, c.limit)
	if err != nil {
		return h.fail(ctx, mod, "crdt_lww_map_scan", err)
	}
	return write(mod, c.outP, c.outN, abi.AppendPairs(nil, rows))
}

// setScan writes up to c.limit present elements after c.after, in order.
func setScan(ctx context.Context, h *Host, mod api.Module, c *crdtCall) int32 {
	elems, err := h.Sync.ScanSet(c.key, c.after, c.limit)
	if err != nil {
		return h.fail(ctx, mod, "crdt_orset_scan", err)
	}
	return write(mod, c.outP, c.outN, abi.AppendList(nil, elems))
}

// rgaSlice writes the visible values [c.index, c.index+c.count).
func rgaSlice(_ context.Context, h *Host, mod api.Module, c *crdtCall) int32 {
	return write(mod, c.outP, c.outN, abi.AppendList(nil, h.Sync.SliceRGA(c.key, c.index, c.count)))
}
