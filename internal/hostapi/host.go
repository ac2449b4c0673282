package hostapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/numax/numax/internal/abi"
	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/replica"
	"github.com/numax/numax/internal/store"
)

// ModuleName is the import module guests use for host functions.
const ModuleName = abi.ModuleName

// Sync is the replicated side of a node, present only when the node runs with
// sync. A nil Sync makes every sync-only function answer ERR_SYNC_DISABLED.
// *replica.Replica (with a peer list) implements it.
type Sync interface {
	// NodeID returns the local NodeId.
	NodeID() string
	// Peers returns the connected peers, one per NodeId, sorted by NodeId.
	Peers() []abi.Peer
	// Write applies a local op durably (see replica.Replica.Write).
	Write(ctx context.Context, op *crdt.Op, accept func(crdt.OpID) bool) (crdt.OpID, error)
	// Read calls f with an object (nil if absent) that cannot change
	// meanwhile.
	Read(k crdt.ObjKey, f func(crdt.Object))
	// ScanMap, ScanSet, SliceRGA and SliceText are the paged readers, and
	// TextLen a Text's length (see replica.Replica): a large sequence not
	// in memory answers them from its view without being read whole.
	ScanMap(key string, after []byte, limit int) ([]abi.Row, error)
	ScanSet(key string, after []byte, limit int) ([][]byte, error)
	SliceRGA(key string, from, count uint64) [][]byte
	SliceText(key string, from, count uint64) (string, error)
	TextLen(key string) int
}

// Host is what the host functions act on. Fill it before Instantiate and do
// not change it afterwards; its methods are safe for concurrent guests.
type Host struct {
	// Store holds the guest's db_* keys (store.Guest). Required.
	Store *store.Store
	// Logger receives guest log lines (with the module id) and the reasons
	// behind -3 answers that are not the guest's plain mistake.
	Logger *slog.Logger
	// Limits are the guest-facing limits; zero fields are invalid.
	Limits abi.Limits
	// LookupEnv reads the host environment for env_get (os.LookupEnv if nil).
	LookupEnv func(string) (string, bool)
	// Sync is nil on a node without sync.
	Sync Sync
	// OnEvent, if set, is called for every event_emit (after logging it).
	OnEvent func(module, name string, payload []byte)
	// Start is the node's start time, the zero of time_monotonic.
	Start time.Time
	// FetchAllow lists the hosts http_fetch may reach (FetchAllowed); empty
	// refuses every fetch.
	FetchAllow []string
	// FetchClient makes http_fetch requests (http.DefaultClient if nil).
	FetchClient *http.Client
}

// trace is the slog level of host_log_v2 level 0.
const levelTrace = slog.LevelDebug - 4

// LogForm says which of the two accepted types of host_log_v2 a host module
// exports (abi.HostLogV2Original).
type LogForm int

const (
	// LogLevelled is host_log_v2 (level, ptr, len) -> (), this runtime's form.
	LogLevelled LogForm = iota
	// LogOriginal is host_log_v2 (ptr, len) -> i32, the original runtime's.
	LogOriginal
)

// Instantiate defines the `nx` module on r, bound to h, with the levelled
// host_log_v2. Guests instantiated on r afterwards can import it.
func Instantiate(ctx context.Context, r wazero.Runtime, h *Host) (api.Module, error) {
	return InstantiateAs(ctx, r, h, ModuleName, LogLevelled)
}

// InstantiateAs defines the host functions on r as module name, with the
// given form of host_log_v2. A module that imports the original form is
// linked to such a module (named other than "nx") by an import resolver.
//
// The module is compiled and then instantiated with r.InstantiateModule, not
// with the builder's Instantiate: the builder wraps its result in a type
// that wazero's experimental.ImportResolver cannot link against.
func InstantiateAs(ctx context.Context, r wazero.Runtime, h *Host, name string, form LogForm) (api.Module, error) {
	b, err := newBuilder(r, h, name, form)
	if err != nil {
		return nil, err
	}
	cm, err := b.Compile(ctx)
	if err != nil {
		return nil, err
	}
	return r.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName(name))
}

// NewBuilder returns the host module builder, for callers that want to
// compile it without instantiating (e.g. to list its definitions).
func NewBuilder(r wazero.Runtime, h *Host) (wazero.HostModuleBuilder, error) {
	return newBuilder(r, h, ModuleName, LogLevelled)
}

func newBuilder(r wazero.Runtime, h *Host, name string, form LogForm) (wazero.HostModuleBuilder, error) {
	if h.Store == nil {
		return nil, fmt.Errorf("hostapi: Host.Store is required")
	}
	if err := h.Limits.Validate(); err != nil {
		return nil, fmt.Errorf("hostapi: %w", err)
	}
	if h.Logger == nil {
		h.Logger = slog.New(slog.DiscardHandler)
	}
	if h.LookupEnv == nil {
		h.LookupEnv = os.LookupEnv
	}
	if h.Start.IsZero() {
		h.Start = time.Now()
	}
	impls := h.functions()
	b := r.NewHostModuleBuilder(name)
	for _, f := range abi.Functions {
		fn, ok := impls[f.Name]
		if !ok {
			return nil, fmt.Errorf("hostapi: no implementation of %s", f.Name)
		}
		if f.Name == abi.HostLogV2Original.Name && form == LogOriginal {
			f, fn = abi.HostLogV2Original, h.hostLogV2Original
		}
		b.NewFunctionBuilder().
			WithGoModuleFunction(fn, valueTypes(f.Params), valueTypes(f.Results)).
			Export(f.Name)
	}
	if len(impls) != len(abi.Functions) {
		return nil, fmt.Errorf("hostapi: %d implementations for %d functions", len(impls), len(abi.Functions))
	}
	return b, nil
}

func valueTypes(ts []abi.ValType) []api.ValueType {
	out := make([]api.ValueType, len(ts))
	for i, t := range ts {
		switch t {
		case abi.I32:
			out[i] = api.ValueTypeI32
		case abi.I64:
			out[i] = api.ValueTypeI64
		}
	}
	return out
}

// functions maps every abi function name to its implementation.
func (h *Host) functions() map[string]api.GoModuleFunc {
	m := map[string]api.GoModuleFunc{
		"host_log":    h.hostLog,
		"host_log_v2": h.hostLogV2,

		"db_get":        h.dbGet,
		"db_set":        h.dbSet,
		"db_delete":     h.dbDelete,
		"db_exists":     h.dbExists,
		"db_scan":       h.dbScanOffset(false),
		"db_keys":       h.dbScanOffset(true),
		"db_scan_after": h.dbScanAfter(false),
		"db_keys_after": h.dbScanAfter(true),

		"time_now":          h.timeNow,
		"time_monotonic":    h.timeMonotonic,
		"random_bytes":      h.randomBytes,
		"hash_sha256":       h.hashSHA256,
		"hash_blake3":       h.hashBLAKE3,
		"env_get":           h.envGet,
		"module_id":         h.moduleID,
		"host_capabilities": h.hostCapabilities,
		"event_emit":        h.eventEmit,
		"abort":             h.abort,
		"net_node_id":       h.netNodeID,
		"net_peers":         h.netPeers,

		"http_request": h.callReader("on_request", func(c *Call) []byte { return c.Request }),
		"http_respond": h.httpRespond,
		"changes":      h.callReader("on_change", func(c *Call) []byte { return c.Changes }),
		"peer_event":   h.callReader("on_peer", func(c *Call) []byte { return c.Peer }),
		"http_fetch":   h.httpFetch,
	}
	for name, fn := range h.crdtFunctions() {
		m[name] = fn
	}
	return m
}

// args reads a call's arguments from guest memory and records whether any of
// them was invalid (-3). Checks accumulate so each function states its
// arguments once, then asks ok().
type args struct {
	mem api.Memory
	lim *abi.Limits
	bad bool
}

func (h *Host) args(mod api.Module) args {
	return args{mem: mod.Memory(), lim: &h.Limits}
}

func (a *args) read(p, n, max uint32) []byte {
	if a.bad {
		return nil
	}
	if n > max || a.mem == nil {
		a.bad = true
		return nil
	}
	b, ok := a.mem.Read(p, n)
	if !ok {
		a.bad = true
		return nil
	}
	return b
}

// key reads a key, CRDT key, field, element, prefix or cursor.
func (a *args) key(p, n uint32) []byte { return a.read(p, n, a.lim.MaxKey) }

// value reads a db, LWW, map or RGA value.
func (a *args) value(p, n uint32) []byte { return a.read(p, n, a.lim.MaxValue) }

// out checks an output buffer: within the output limit and inside memory.
func (a *args) out(p, n uint32) {
	a.read(p, n, a.lim.MaxOutput)
}

func (a *args) ok() bool { return !a.bad }

// gate applies the spec's order once the arguments are read: -3 if any was
// invalid, then -4 if a key, prefix or cursor is reserved. ok is false when
// the call must answer code.
func (a *args) gate(keys ...[]byte) (code int32, ok bool) {
	if a.bad {
		return abi.ErrInternal, false
	}
	for _, k := range keys {
		if abi.IsReserved(k) {
			return abi.ErrReservedKey, false
		}
	}
	return abi.OK, true
}

// write copies data into the guest's output buffer if it fits: the byte
// count, or -2 with nothing written.
func write(mod api.Module, p, capacity uint32, data []byte) int32 {
	if uint64(len(data)) > uint64(capacity) {
		return abi.ErrBufferTooSmall
	}
	if !mod.Memory().Write(p, data) {
		// Checked by args.out before the operation; memory cannot shrink.
		return abi.ErrInternal
	}
	return int32(len(data))
}

func u32(v uint64) uint32 { return api.DecodeU32(v) }

func ret(stack []uint64, code int32) { stack[0] = api.EncodeI32(code) }

// fail logs a runtime failure behind a -3 so an operator can see why the
// guest got it, and returns -3.
func (h *Host) fail(ctx context.Context, mod api.Module, fn string, err error) int32 {
	if errors.Is(err, store.ErrDegraded) || errors.Is(err, replica.ErrRecovering) {
		// The store logs that once, and reminds; not once per write.
		h.Logger.LogAttrs(ctx, slog.LevelDebug, "host call refused: datastore degraded",
			slog.String("module", moduleName(mod)), slog.String("func", fn), slog.Any("err", err))
		return abi.ErrInternal
	}
	h.Logger.LogAttrs(ctx, slog.LevelError, "host call failed",
		slog.String("module", moduleName(mod)), slog.String("func", fn), slog.Any("err", err))
	return abi.ErrInternal
}

// InstanceSeparator separates a module id from an instance suffix in the
// names of pooled instances (wazero needs distinct names): "app.wasm\x00#3"
// is an instance of module "app.wasm".
const InstanceSeparator = "\x00"

// moduleName is the module id of an instance: its name up to
// InstanceSeparator.
func moduleName(mod api.Module) string {
	name := mod.Name()
	if i := strings.Index(name, InstanceSeparator); i >= 0 {
		return name[:i]
	}
	return name
}
