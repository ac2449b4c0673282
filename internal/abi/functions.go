package abi

import "sort"

// ValType is a WebAssembly value type used in the host function table.
type ValType byte

// The two value types the ABI uses.
const (
	I32 ValType = 0x7f
	I64 ValType = 0x7e
)

// String returns the WebAssembly text name of t.
func (t ValType) String() string {
	switch t {
	case I32:
		return "i32"
	case I64:
		return "i64"
	}
	return "unknown"
}

// Func describes one host function: its import name and exact type.
type Func struct {
	Name    string
	Params  []ValType
	Results []ValType
	// SyncOnly functions answer ErrSyncDisabled on a node without sync.
	SyncOnly bool
}

// Signature renders the type as in the WebAssembly text format, e.g.
// "(i32, i32) -> i32".
func (f Func) Signature() string {
	s := "("
	for i, p := range f.Params {
		if i > 0 {
			s += ", "
		}
		s += p.String()
	}
	s += ") -> "
	switch len(f.Results) {
	case 0:
		s += "()"
	case 1:
		s += f.Results[0].String()
	default:
		s += "("
		for i, r := range f.Results {
			if i > 0 {
				s += ", "
			}
			s += r.String()
		}
		s += ")"
	}
	return s
}

func sig(params ...ValType) []ValType { return params }

var (
	none = []ValType{}
	ri32 = []ValType{I32}
	ri64 = []ValType{I64}
)

// Functions is every host function of docs/host-abi.md with its exact type, in the
// order the spec lists them.
var Functions = []Func{
	{Name: "host_log", Params: sig(I32, I32), Results: none},
	{Name: "host_log_v2", Params: sig(I32, I32, I32), Results: none},

	{Name: "db_get", Params: sig(I32, I32, I32, I32), Results: ri32},
	{Name: "db_set", Params: sig(I32, I32, I32, I32), Results: ri32},
	{Name: "db_delete", Params: sig(I32, I32), Results: ri32},
	{Name: "db_exists", Params: sig(I32, I32), Results: ri32},
	{Name: "db_scan", Params: sig(I32, I32, I64, I32, I32, I32), Results: ri32},
	{Name: "db_keys", Params: sig(I32, I32, I64, I32, I32, I32), Results: ri32},
	{Name: "db_scan_after", Params: sig(I32, I32, I32, I32, I32, I32, I32), Results: ri32},
	{Name: "db_keys_after", Params: sig(I32, I32, I32, I32, I32, I32, I32), Results: ri32},

	{Name: "time_now", Params: none, Results: ri64},
	{Name: "time_monotonic", Params: none, Results: ri64},
	{Name: "random_bytes", Params: sig(I32, I32), Results: ri32},
	{Name: "hash_sha256", Params: sig(I32, I32, I32, I32), Results: ri32},
	{Name: "hash_blake3", Params: sig(I32, I32, I32, I32), Results: ri32},
	{Name: "env_get", Params: sig(I32, I32, I32, I32), Results: ri32},
	{Name: "module_id", Params: sig(I32, I32), Results: ri32},
	{Name: "host_capabilities", Params: sig(I32, I32), Results: ri32},
	{Name: "event_emit", Params: sig(I32, I32, I32, I32), Results: ri32},
	{Name: "abort", Params: sig(I32, I32), Results: none},
	{Name: "net_node_id", Params: sig(I32, I32), Results: ri32, SyncOnly: true},
	{Name: "net_peers", Params: sig(I32, I32), Results: ri32, SyncOnly: true},

	{Name: "crdt_gcounter_inc", Params: sig(I32, I32, I64), Results: ri32, SyncOnly: true},
	{Name: "crdt_gcounter_value", Params: sig(I32, I32, I32, I32), Results: ri32, SyncOnly: true},
	{Name: "crdt_pncounter_inc", Params: sig(I32, I32, I64), Results: ri32, SyncOnly: true},
	{Name: "crdt_pncounter_dec", Params: sig(I32, I32, I64), Results: ri32, SyncOnly: true},
	{Name: "crdt_pncounter_value", Params: sig(I32, I32, I32, I32), Results: ri32, SyncOnly: true},
	{Name: "crdt_lww_set", Params: sig(I32, I32, I32, I32), Results: ri32, SyncOnly: true},
	{Name: "crdt_lww_get", Params: sig(I32, I32, I32, I32), Results: ri32, SyncOnly: true},
	{Name: "crdt_lww_map_set", Params: sig(I32, I32, I32, I32, I32, I32), Results: ri32, SyncOnly: true},
	{Name: "crdt_lww_map_remove", Params: sig(I32, I32, I32, I32), Results: ri32, SyncOnly: true},
	{Name: "crdt_lww_map_get", Params: sig(I32, I32, I32, I32, I32, I32), Results: ri32, SyncOnly: true},
	{Name: "crdt_lww_map_contains", Params: sig(I32, I32, I32, I32), Results: ri32, SyncOnly: true},
	{Name: "crdt_lww_map_entries", Params: sig(I32, I32, I32, I32), Results: ri32, SyncOnly: true},
	{Name: "crdt_orset_add", Params: sig(I32, I32, I32, I32), Results: ri32, SyncOnly: true},
	{Name: "crdt_orset_remove", Params: sig(I32, I32, I32, I32), Results: ri32, SyncOnly: true},
	{Name: "crdt_orset_contains", Params: sig(I32, I32, I32, I32), Results: ri32, SyncOnly: true},
	{Name: "crdt_orset_elements", Params: sig(I32, I32, I32, I32), Results: ri32, SyncOnly: true},
	{Name: "crdt_rga_insert", Params: sig(I32, I32, I32, I32, I32, I32, I32, I32), Results: ri32, SyncOnly: true},
	{Name: "crdt_rga_delete", Params: sig(I32, I32, I32, I32), Results: ri32, SyncOnly: true},
	{Name: "crdt_rga_values", Params: sig(I32, I32, I32, I32), Results: ri32, SyncOnly: true},
	{Name: "crdt_rga_elements", Params: sig(I32, I32, I32, I32), Results: ri32, SyncOnly: true},
	{Name: "crdt_lww_map_scan", Params: sig(I32, I32, I32, I32, I32, I32, I32), Results: ri32, SyncOnly: true},
	{Name: "crdt_orset_scan", Params: sig(I32, I32, I32, I32, I32, I32, I32), Results: ri32, SyncOnly: true},
	{Name: "crdt_rga_slice", Params: sig(I32, I32, I64, I64, I32, I32), Results: ri32, SyncOnly: true},
	{Name: "crdt_text_insert", Params: sig(I32, I32, I64, I32, I32), Results: ri32, SyncOnly: true},
	{Name: "crdt_text_delete", Params: sig(I32, I32, I64, I64), Results: ri32, SyncOnly: true},
	{Name: "crdt_text_len", Params: sig(I32, I32), Results: ri64, SyncOnly: true},
	{Name: "crdt_text_read", Params: sig(I32, I32, I64, I64, I32, I32), Results: ri32, SyncOnly: true},

	// Serving (docs/serving.md): valid inside the handler that gives them
	// meaning, -3 elsewhere; http_fetch anywhere.
	{Name: "http_request", Params: sig(I32, I32), Results: ri32},
	{Name: "http_respond", Params: sig(I32, I32, I32, I32, I32), Results: ri32},
	{Name: "changes", Params: sig(I32, I32), Results: ri32},
	{Name: "peer_event", Params: sig(I32, I32), Results: ri32},
	{Name: "http_fetch", Params: sig(I32, I32, I32, I32), Results: ri32},
}

// HostLogV2Original is the other accepted type of host_log_v2: the
// (msg_ptr, msg_len) -> i32 form the original runtime and every guest built
// against its SDKs import. The host binds it instead of the levelled form in
// Functions when a module imports this type (decided per module at load
// time); it logs at info level and returns 0, or ErrInternal when the range
// cannot be read or the message is over the log limit.
var HostLogV2Original = Func{Name: "host_log_v2", Params: sig(I32, I32), Results: ri32}

// Alternatives returns every type the host accepts for the nx import name:
// the one in Functions first, then any other form. It is empty for a name
// the host does not provide.
func Alternatives(name string) []Func {
	f, ok := Lookup(name)
	if !ok {
		return nil
	}
	if name == HostLogV2Original.Name {
		return []Func{f, HostLogV2Original}
	}
	return []Func{f}
}

// Lookup returns the function called name.
func Lookup(name string) (Func, bool) {
	for _, f := range Functions {
		if f.Name == name {
			return f, true
		}
	}
	return Func{}, false
}

// Capabilities returns the host_capabilities answer: every function name,
// sorted, joined by "\n", without a trailing newline.
func Capabilities() string {
	names := make([]string, len(Functions))
	for i, f := range Functions {
		names[i] = f.Name
	}
	sort.Strings(names)
	s := ""
	for i, n := range names {
		if i > 0 {
			s += "\n"
		}
		s += n
	}
	return s
}
