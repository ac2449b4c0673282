package hostapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"lukechampine.com/blake3"

	"github.com/numax/numax/internal/abi"
	"github.com/numax/numax/internal/replica"
	"github.com/numax/numax/internal/store"
)

// memoryModule is a module with one exported page of memory and nothing else.
var memoryModule = []byte{
	0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00,
	0x05, 0x03, 0x01, 0x00, 0x01, // memory section: one memory, min 1 page
	0x07, 0x0a, 0x01, 0x06, 'm', 'e', 'm', 'o', 'r', 'y', 0x02, 0x00, // export "memory"
}

const memSize = 65536

// logSink records log records for assertions.
type logSink struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (l *logSink) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r)
	return nil
}
func (l *logSink) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logSink) WithGroup(string) slog.Handler      { return l }

func (l *logSink) last(t *testing.T) slog.Record {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.recs) == 0 {
		t.Fatal("nothing logged")
	}
	return l.recs[len(l.recs)-1]
}

func (l *logSink) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.recs)
}

func attr(r slog.Record, key string) string {
	var v string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}

// fakeSync answers the net_* functions; its CRDT side is a real replica
// (see crdt_test.go) when one is attached.
type fakeSync struct{ *replica.Replica }

func (fakeSync) NodeID() string { return "0123456789abcdef0123456789abcdef" }
func (fakeSync) Peers() []abi.Peer {
	return []abi.Peer{{Addr: "127.0.0.1:1", NodeID: "aa"}, {Addr: "127.0.0.1:2", NodeID: "bb"}}
}

type harness struct {
	t      *testing.T
	h      *Host
	mod    api.Module
	fns    map[string]api.GoModuleFunc
	next   uint32
	logs   *logSink
	events []string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(store.DefaultConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := wazero.NewRuntime(ctx)
	t.Cleanup(func() { r.Close(ctx) })
	mod, err := r.InstantiateWithConfig(ctx, memoryModule, wazero.NewModuleConfig().WithName("guest.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	hs := &harness{t: t, mod: mod, next: 16, logs: &logSink{}}
	hs.h = &Host{
		Store:  st,
		Logger: slog.New(hs.logs),
		Limits: abi.DefaultLimits(),
		LookupEnv: func(k string) (string, bool) {
			env := map[string]string{"NX_COLOR": "blue", "NUMAX_MODE": "x", "PATH": "/bin", "NX_EMPTY": ""}
			v, ok := env[k]
			return v, ok
		},
		OnEvent: func(module, name string, payload []byte) {
			hs.events = append(hs.events, module+"/"+name+"/"+string(payload))
		},
	}
	if _, err := NewBuilder(r, hs.h); err != nil {
		t.Fatal(err)
	}
	hs.fns = hs.h.functions()
	return hs
}

// put copies b into guest memory and returns (ptr, len) as stack values.
func (hs *harness) put(b []byte) (uint64, uint64) {
	p := hs.next
	if !hs.mod.Memory().Write(p, b) {
		hs.t.Fatalf("put %d bytes at %d", len(b), p)
	}
	hs.next += uint32(len(b)) + 8
	return uint64(p), uint64(len(b))
}

func (hs *harness) str(s string) (uint64, uint64) { return hs.put([]byte(s)) }

// buf reserves n bytes filled with 0xEE (to detect writes) and returns ptr.
func (hs *harness) buf(n int) uint64 {
	p, _ := hs.put(bytes.Repeat([]byte{0xEE}, n))
	return p
}

func (hs *harness) read(p uint64, n int) []byte {
	b, ok := hs.mod.Memory().Read(uint32(p), uint32(n))
	if !ok {
		hs.t.Fatalf("read %d at %d", n, p)
	}
	return append([]byte(nil), b...)
}

func (hs *harness) call(name string, args ...uint64) int32 {
	hs.t.Helper()
	f, ok := abi.Lookup(name)
	if !ok {
		hs.t.Fatalf("no function %s", name)
	}
	if len(args) != len(f.Params) {
		hs.t.Fatalf("%s takes %d args, got %d", name, len(f.Params), len(args))
	}
	stack := make([]uint64, max(len(f.Params), len(f.Results), 1))
	copy(stack, args)
	hs.fns[name](context.Background(), hs.mod, stack)
	if len(f.Results) == 0 {
		return 0
	}
	return api.DecodeI32(stack[0])
}

func (hs *harness) set(k, v string) {
	hs.t.Helper()
	kp, kn := hs.str(k)
	vp, vn := hs.str(v)
	if c := hs.call("db_set", kp, kn, vp, vn); c != 0 {
		hs.t.Fatalf("db_set(%q) = %d", k, c)
	}
}

func TestInstantiate_ExportsEveryFunctionWithItsType(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(store.DefaultConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	mod, err := Instantiate(ctx, r, &Host{Store: st, Limits: abi.DefaultLimits()})
	if err != nil {
		t.Fatal(err)
	}
	defs := mod.ExportedFunctionDefinitions()
	if len(defs) != len(abi.Functions) {
		t.Fatalf("%d exports, want %d", len(defs), len(abi.Functions))
	}
	for _, f := range abi.Functions {
		d, ok := defs[f.Name]
		if !ok {
			t.Errorf("%s not exported", f.Name)
			continue
		}
		if got, want := d.ParamTypes(), valueTypes(f.Params); !bytes.Equal(got, want) {
			t.Errorf("%s params = %v, want %v", f.Name, got, want)
		}
		if got, want := d.ResultTypes(), valueTypes(f.Results); !bytes.Equal(got, want) {
			t.Errorf("%s results = %v, want %v", f.Name, got, want)
		}
	}
}

func TestInstantiate_RejectsBadHost(t *testing.T) {
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	if _, err := Instantiate(ctx, r, &Host{Limits: abi.DefaultLimits()}); err == nil {
		t.Fatal("nil store accepted")
	}
}

func TestCRDTArgs_MatchABITypes(t *testing.T) {
	for _, f := range abi.Functions {
		if !strings.HasPrefix(f.Name, "crdt_") {
			continue
		}
		entry, ok := crdtFuncs[f.Name]
		kinds := entry.args
		if !ok {
			t.Errorf("%s has no argument table", f.Name)
			continue
		}
		var types []abi.ValType
		for _, k := range kinds {
			if k == argLimit {
				types = append(types, abi.I32)
			} else if k.slots() == 1 {
				types = append(types, abi.I64)
			} else {
				types = append(types, abi.I32, abi.I32)
			}
		}
		if !bytes.Equal(types2bytes(types), types2bytes(f.Params)) {
			t.Errorf("%s: table types %v, ABI %v", f.Name, types, f.Params)
		}
	}
}

func types2bytes(ts []abi.ValType) []byte {
	b := make([]byte, len(ts))
	for i, t := range ts {
		b[i] = byte(t)
	}
	return b
}

func TestDB_GetSetDeleteExists(t *testing.T) {
	hs := newHarness(t)
	hs.set("k", "hello")
	hs.set("", "empty key")
	kp, kn := hs.str("k")
	emptyP := uint64(0)
	absentP, absentN := hs.str("absent")
	reservedP, reservedN := hs.str("__nx/secret")
	longP, longN := hs.put(make([]byte, abi.DefaultMaxKey+1))
	out := hs.buf(64)

	tests := []struct {
		name string
		fn   string
		args []uint64
		want int32
	}{
		{"get_present", "db_get", []uint64{kp, kn, out, 64}, 5},
		{"get_empty_key", "db_get", []uint64{emptyP, 0, out, 64}, 9},
		{"get_absent", "db_get", []uint64{absentP, absentN, out, 64}, abi.ErrNotFound},
		{"get_small_buffer", "db_get", []uint64{kp, kn, out, 4}, abi.ErrBufferTooSmall},
		{"get_reserved", "db_get", []uint64{reservedP, reservedN, out, 64}, abi.ErrReservedKey},
		{"get_key_over_limit", "db_get", []uint64{longP, longN, out, 64}, abi.ErrInternal},
		{"get_out_cap_over_limit", "db_get", []uint64{kp, kn, out, abi.DefaultMaxOutput + 1}, abi.ErrInternal},
		{"get_key_out_of_bounds", "db_get", []uint64{memSize - 2, 3, out, 64}, abi.ErrInternal},
		{"get_out_out_of_bounds", "db_get", []uint64{kp, kn, memSize - 10, 64}, abi.ErrInternal},
		{"get_pointer_wraps", "db_get", []uint64{0xffffffff, 2, out, 64}, abi.ErrInternal},
		{"args_checked_before_reserved", "db_get", []uint64{reservedP, reservedN, out, abi.DefaultMaxOutput + 1}, abi.ErrInternal},
		{"exists_present", "db_exists", []uint64{kp, kn}, 1},
		{"exists_absent", "db_exists", []uint64{absentP, absentN}, 0},
		{"exists_reserved", "db_exists", []uint64{reservedP, reservedN}, abi.ErrReservedKey},
		{"exists_oob", "db_exists", []uint64{memSize, 1}, abi.ErrInternal},
		{"set_reserved", "db_set", []uint64{reservedP, reservedN, kp, kn}, abi.ErrReservedKey},
		{"set_value_over_limit", "db_set", []uint64{kp, kn, 0, abi.DefaultMaxValue + 1}, abi.ErrInternal},
		{"set_value_oob", "db_set", []uint64{kp, kn, memSize - 1, 2}, abi.ErrInternal},
		{"delete_reserved", "db_delete", []uint64{reservedP, reservedN}, abi.ErrReservedKey},
		{"delete_absent", "db_delete", []uint64{absentP, absentN}, 0},
		{"delete_key_over_limit", "db_delete", []uint64{longP, longN}, abi.ErrInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := hs.read(out, 64)
			got := hs.call(tt.fn, tt.args...)
			if got != tt.want {
				t.Fatalf("%s = %d, want %d", tt.fn, got, tt.want)
			}
			if got < 0 && !bytes.Equal(before, hs.read(out, 64)) {
				t.Fatalf("%s wrote output on failure %d", tt.fn, got)
			}
		})
	}
	if got := hs.call("db_get", kp, kn, out, 64); got != 5 || string(hs.read(out, 5)) != "hello" {
		t.Fatalf("db_get = %d %q", got, hs.read(out, 5))
	}
	// A failed set must not have changed the stored value.
	if hs.call("db_delete", kp, kn) != 0 || hs.call("db_exists", kp, kn) != 0 {
		t.Fatal("delete did not remove the key")
	}
}

func TestDB_Scan(t *testing.T) {
	hs := newHarness(t)
	for _, k := range []string{"a", "user/1", "user/2", "user/3", "v"} {
		hs.set(k, "val-"+k)
	}
	pp, pn := hs.str("user/")
	emptyP := uint64(0)
	reservedP, reservedN := hs.str("__nx/")
	out := hs.buf(4096)

	decodeRows := func(n int32) []string {
		t.Helper()
		rows, err := abi.DecodeRows(hs.read(out, int(n)))
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, r := range rows {
			s = append(s, string(r.Key)+"="+string(r.Value))
		}
		return s
	}
	decodeKeys := func(n int32) []string {
		t.Helper()
		keys, err := abi.DecodeList(hs.read(out, int(n)))
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, k := range keys {
			s = append(s, string(k))
		}
		return s
	}

	t.Run("offset_paging", func(t *testing.T) {
		n := hs.call("db_scan", pp, pn, 1, 10, out, 4096)
		if got := strings.Join(decodeRows(n), ","); got != "user/2=val-user/2,user/3=val-user/3" {
			t.Fatalf("rows = %s", got)
		}
		n = hs.call("db_keys", emptyP, 0, 0, 2, out, 4096)
		if got := strings.Join(decodeKeys(n), ","); got != "a,user/1" {
			t.Fatalf("keys = %s", got)
		}
		n = hs.call("db_keys", pp, pn, 7, 10, out, 4096)
		if n != 4 || len(decodeKeys(n)) != 0 {
			t.Fatalf("past the end: %d", n)
		}
	})
	t.Run("key_paging", func(t *testing.T) {
		ap, an := hs.str("user/1")
		n := hs.call("db_scan_after", pp, pn, ap, an, 1, out, 4096)
		if got := strings.Join(decodeRows(n), ","); got != "user/2=val-user/2" {
			t.Fatalf("rows = %s", got)
		}
		n = hs.call("db_keys_after", pp, pn, emptyP, 0, 10, out, 4096)
		if got := strings.Join(decodeKeys(n), ","); got != "user/1,user/2,user/3" {
			t.Fatalf("keys = %s", got)
		}
	})
	t.Run("small_buffer_then_success", func(t *testing.T) {
		before := hs.read(out, 64)
		if got := hs.call("db_scan", pp, pn, 0, 3, out, 20); got != abi.ErrBufferTooSmall {
			t.Fatalf("= %d, want -2", got)
		}
		if !bytes.Equal(before, hs.read(out, 64)) {
			t.Fatal("wrote output on -2")
		}
		if got := hs.call("db_scan", pp, pn, 0, 3, out, 4096); got <= 0 {
			t.Fatalf("retry = %d", got)
		}
	})
	errs := []struct {
		name string
		fn   string
		args []uint64
		want int32
	}{
		{"limit_0", "db_scan", []uint64{pp, pn, 0, 0, out, 4096}, abi.ErrInternal},
		{"limit_1025", "db_keys", []uint64{pp, pn, 0, 1025, out, 4096}, abi.ErrInternal},
		{"reserved_prefix", "db_scan", []uint64{reservedP, reservedN, 0, 10, out, 4096}, abi.ErrReservedKey},
		{"reserved_prefix_after", "db_keys_after", []uint64{reservedP, reservedN, emptyP, 0, 10, out, 4096}, abi.ErrReservedKey},
		{"cursor_outside_prefix", "db_scan_after", []uint64{pp, pn, hs.mustStr("a"), 1, 10, out, 4096}, abi.ErrInternal},
		{"reserved_cursor", "db_scan_after", []uint64{emptyP, 0, reservedP, reservedN, 10, out, 4096}, abi.ErrReservedKey},
		{"out_over_limit", "db_scan", []uint64{pp, pn, 0, 10, out, abi.DefaultMaxOutput + 1}, abi.ErrInternal},
		{"prefix_oob", "db_keys", []uint64{memSize - 1, 5, 0, 10, out, 4096}, abi.ErrInternal},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			if got := hs.call(tt.fn, tt.args...); got != tt.want {
				t.Fatalf("%s = %d, want %d", tt.fn, got, tt.want)
			}
		})
	}
}

func (hs *harness) mustStr(s string) uint64 { p, _ := hs.str(s); return p }

func TestSystemFunctions(t *testing.T) {
	hs := newHarness(t)
	out := hs.buf(256)
	in, inN := hs.str("abc")

	t.Run("hash_sha256", func(t *testing.T) {
		if got := hs.call("hash_sha256", in, inN, out, 31); got != abi.ErrBufferTooSmall {
			t.Fatalf("31-byte buffer = %d", got)
		}
		if got := hs.call("hash_sha256", in, inN, out, 32); got != 32 {
			t.Fatalf("= %d", got)
		}
		want := sha256.Sum256([]byte("abc"))
		if !bytes.Equal(hs.read(out, 32), want[:]) {
			t.Fatal("wrong digest")
		}
		if got := hs.call("hash_sha256", in, abi.DefaultMaxRandom+1, out, 32); got != abi.ErrInternal {
			t.Fatalf("oversize input = %d", got)
		}
	})
	t.Run("hash_blake3", func(t *testing.T) {
		if got := hs.call("hash_blake3", in, inN, out, 64); got != 32 {
			t.Fatalf("= %d", got)
		}
		want := blake3.Sum256([]byte("abc"))
		if !bytes.Equal(hs.read(out, 32), want[:]) {
			t.Fatal("wrong digest")
		}
	})
	t.Run("random_bytes", func(t *testing.T) {
		if got := hs.call("random_bytes", out, 16); got != 16 {
			t.Fatalf("= %d", got)
		}
		if got := hs.call("random_bytes", out, abi.DefaultMaxRandom+1); got != abi.ErrInternal {
			t.Fatalf("over limit = %d", got)
		}
		if got := hs.call("random_bytes", memSize-8, 16); got != abi.ErrInternal {
			t.Fatalf("oob = %d", got)
		}
	})
	t.Run("env_get", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			want int32
			val  string
		}{
			{"NX_COLOR", 4, "blue"},
			{"NUMAX_MODE", 1, "x"},
			{"NX_EMPTY", 0, ""},
			{"NX_MISSING", abi.ErrNotFound, ""},
			{"PATH", abi.ErrNotFound, ""},
			{"NX_lower", abi.ErrNotFound, ""},
			{"NX_", abi.ErrNotFound, ""},
			{"NX_" + strings.Repeat("A", 126), abi.ErrNotFound, ""},
		} {
			p, n := hs.str(tt.name)
			if got := hs.call("env_get", p, n, out, 256); got != tt.want {
				t.Errorf("env_get(%s) = %d, want %d", tt.name, got, tt.want)
			} else if got > 0 && string(hs.read(out, int(got))) != tt.val {
				t.Errorf("env_get(%s) value %q", tt.name, hs.read(out, int(got)))
			}
		}
		p, n := hs.str("NX_COLOR")
		if got := hs.call("env_get", p, n, out, 3); got != abi.ErrBufferTooSmall {
			t.Errorf("small buffer = %d", got)
		}
	})
	t.Run("module_id_and_capabilities", func(t *testing.T) {
		if got := hs.call("module_id", out, 256); got != 10 || string(hs.read(out, 10)) != "guest.wasm" {
			t.Fatalf("module_id = %d", got)
		}
		if got := hs.call("module_id", out, 3); got != abi.ErrBufferTooSmall {
			t.Fatalf("small = %d", got)
		}
		big := hs.buf(2048)
		n := hs.call("host_capabilities", big, 2048)
		caps := string(hs.read(big, int(n)))
		if caps != abi.Capabilities() || strings.HasSuffix(caps, "\n") || !strings.HasPrefix(caps, "abort\n") {
			t.Fatalf("capabilities = %q", caps)
		}
		if lines := strings.Split(caps, "\n"); len(lines) != len(abi.Functions) {
			t.Fatalf("%d names", len(lines))
		}
	})
	t.Run("time", func(t *testing.T) {
		stack := []uint64{0}
		hs.fns["time_now"](context.Background(), hs.mod, stack)
		if stack[0] < 1_700_000_000_000 {
			t.Fatalf("time_now = %d", stack[0])
		}
		hs.fns["time_monotonic"](context.Background(), hs.mod, stack)
		a := stack[0]
		hs.fns["time_monotonic"](context.Background(), hs.mod, stack)
		if stack[0] < a {
			t.Fatal("time_monotonic decreased")
		}
	})
	t.Run("event_emit", func(t *testing.T) {
		name, nameN := hs.str("order.created:v1")
		pay, payN := hs.str("{}")
		if got := hs.call("event_emit", name, nameN, pay, payN); got != 0 {
			t.Fatalf("= %d", got)
		}
		if len(hs.events) != 1 || hs.events[0] != "guest.wasm/order.created:v1/{}" {
			t.Fatalf("events = %v", hs.events)
		}
		if r := hs.logs.last(t); attr(r, "event") != "order.created:v1" || attr(r, "module") != "guest.wasm" {
			t.Fatalf("log = %v", r)
		}
		for _, bad := range []string{"", "has space", "slash/no", strings.Repeat("a", 129)} {
			p, n := hs.str(bad)
			if got := hs.call("event_emit", p, n, pay, payN); got != abi.ErrInternal {
				t.Errorf("event %q = %d", bad, got)
			}
		}
		if got := hs.call("event_emit", name, nameN, 0, abi.DefaultMaxEventPayload+1); got != abi.ErrInternal {
			t.Errorf("big payload = %d", got)
		}
		if len(hs.events) != 1 {
			t.Fatal("a rejected event was delivered")
		}
	})
	t.Run("net_without_sync", func(t *testing.T) {
		if got := hs.call("net_node_id", out, 256); got != abi.ErrSyncDisabled {
			t.Fatalf("net_node_id = %d", got)
		}
		if got := hs.call("net_peers", out, 256); got != abi.ErrSyncDisabled {
			t.Fatalf("net_peers = %d", got)
		}
		if got := hs.call("net_peers", out, abi.DefaultMaxOutput+1); got != abi.ErrInternal {
			t.Fatalf("net_peers over limit = %d", got)
		}
	})
	t.Run("net_with_sync", func(t *testing.T) {
		hs.h.Sync = fakeSync{}
		defer func() { hs.h.Sync = nil }()
		if got := hs.call("net_node_id", out, 256); got != 32 {
			t.Fatalf("net_node_id = %d", got)
		}
		n := hs.call("net_peers", out, 256)
		peers, err := abi.DecodePeers(hs.read(out, int(n)))
		if err != nil || len(peers) != 2 || peers[1].NodeID != "bb" {
			t.Fatalf("peers = %v %v", peers, err)
		}
	})
}

func TestLogging(t *testing.T) {
	hs := newHarness(t)
	msg, msgN := hs.str("hello from guest")
	for _, tt := range []struct {
		level int32
		want  slog.Level
	}{{0, LevelTrace}, {1, slog.LevelDebug}, {2, slog.LevelInfo}, {3, slog.LevelWarn}, {4, slog.LevelError}, {9, slog.LevelInfo}, {-1, slog.LevelInfo}} {
		hs.call("host_log_v2", uint64(uint32(tt.level)), msg, msgN)
		r := hs.logs.last(t)
		if r.Level != tt.want || r.Message != "hello from guest" || attr(r, "module") != "guest.wasm" {
			t.Errorf("level %d: got %v %q module=%q", tt.level, r.Level, r.Message, attr(r, "module"))
		}
	}
	hs.call("host_log", msg, msgN)
	if r := hs.logs.last(t); r.Level != slog.LevelInfo || r.Message != "hello from guest" {
		t.Errorf("host_log: %v %q", r.Level, r.Message)
	}
	hs.call("host_log", memSize-2, 10)
	if r := hs.logs.last(t); r.Level != slog.LevelWarn || !strings.Contains(r.Message, "outside guest memory") {
		t.Errorf("oob log: %v %q", r.Level, r.Message)
	}
	hs.h.Limits.MaxLogMessage = 5
	hs.call("host_log", msg, msgN)
	if r := hs.logs.last(t); r.Message != "hello" || attr(r, "truncated") != "true" {
		t.Errorf("truncated: %q", r.Message)
	}
}

func TestAbort(t *testing.T) {
	hs := newHarness(t)
	msg, msgN := hs.str("bad input")
	for _, tt := range []struct {
		name string
		args []uint64
		want string
	}{
		{"message", []uint64{msg, msgN}, "guest abort: bad input"},
		{"oob_message", []uint64{memSize, 4}, "guest abort: (message outside guest memory)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				r := recover()
				err, ok := r.(error)
				var ae *AbortError
				if !ok || !errors.As(err, &ae) || ae.Error() != tt.want {
					t.Fatalf("recovered %v, want %q", r, tt.want)
				}
			}()
			hs.call("abort", tt.args...)
		})
	}
}

func TestCRDT_ValidationOrder(t *testing.T) {
	hs := newHarness(t)
	out := hs.buf(64)
	key, keyN := hs.str("votes")
	resKey, resKeyN := hs.str("__nx/votes")
	badUTF8, badUTF8N := hs.put([]byte{0xff, 0xfe})
	longP, longN := hs.put(make([]byte, abi.DefaultMaxKey+1))
	field, fieldN := hs.str("f")
	val, valN := hs.str("v")
	id, idN := hs.str("1@0123456789abcdef0123456789abcdef")
	badID, badIDN := hs.str("x@y")

	// args builds valid arguments for fn with the key replaced.
	args := func(fn string, kp, kn uint64) []uint64 {
		var a []uint64
		for _, k := range crdtFuncs[fn].args {
			switch k {
			case argKey:
				a = append(a, kp, kn)
			case argField:
				a = append(a, field, fieldN)
			case argValue:
				a = append(a, val, valN)
			case argDelta:
				a = append(a, 1)
			case argIndex, argCount:
				a = append(a, 0)
			case argAfter:
				a = append(a, field, fieldN)
			case argLimit:
				a = append(a, 10)
			case argText:
				a = append(a, val, valN)
			case argOut:
				a = append(a, out, 64)
			case argParent, argID:
				a = append(a, id, idN)
			}
		}
		return a
	}
	for fn := range crdtFuncs {
		t.Run(fn, func(t *testing.T) {
			if got := hs.call(fn, args(fn, key, keyN)...); got != abi.ErrSyncDisabled {
				t.Errorf("valid call = %d, want -5", got)
			}
			if got := hs.call(fn, args(fn, resKey, resKeyN)...); got != abi.ErrReservedKey {
				t.Errorf("reserved key = %d, want -4", got)
			}
			if got := hs.call(fn, args(fn, longP, longN)...); got != abi.ErrInternal {
				t.Errorf("long key = %d, want -3", got)
			}
			if got := hs.call(fn, args(fn, badUTF8, badUTF8N)...); got != abi.ErrInternal {
				t.Errorf("bad UTF-8 key = %d, want -3", got)
			}
			if got := hs.call(fn, args(fn, memSize-1, 4)...); got != abi.ErrInternal {
				t.Errorf("oob key = %d, want -3", got)
			}
		})
	}
	t.Run("rga_ids", func(t *testing.T) {
		if got := hs.call("crdt_rga_delete", key, keyN, badID, badIDN); got != abi.ErrInternal {
			t.Errorf("bad id = %d", got)
		}
		if got := hs.call("crdt_rga_delete", key, keyN, 0, 0); got != abi.ErrInternal {
			t.Errorf("empty id = %d", got)
		}
		if got := hs.call("crdt_rga_insert", key, keyN, 0, 0, val, valN, out, 64); got != abi.ErrSyncDisabled {
			t.Errorf("insert at head = %d", got)
		}
		if got := hs.call("crdt_rga_insert", key, keyN, badID, badIDN, val, valN, out, 64); got != abi.ErrInternal {
			t.Errorf("bad parent = %d", got)
		}
		// Oversize value wins over the reserved key.
		if got := hs.call("crdt_lww_set", resKey, resKeyN, val, abi.DefaultMaxValue+1); got != abi.ErrInternal {
			t.Errorf("oversize value with reserved key = %d", got)
		}
	})
}

// TestLogging_OriginalForm covers host_log_v2 (ptr, len) -> i32 of the
// original runtime: info level and 0; -3 with nothing logged for a range
// outside memory or a message over the limit (never truncated).
func TestLogging_OriginalForm(t *testing.T) {
	hs := newHarness(t)
	msg, msgN := hs.str("hello from guest")
	hs.h.Limits.MaxLogMessage = uint32(msgN)
	for _, tt := range []struct {
		name    string
		p, n    uint64
		want    int32
		logged  string
		nothing bool
	}{
		{"at_limit", msg, msgN, 0, "hello from guest", false},
		{"empty", msg, 0, 0, "", false},
		{"over_limit", msg, msgN + 1, abi.ErrInternal, "", true},
		{"outside_memory", memSize - 2, 10, abi.ErrInternal, "", true},
		{"wrapping_range", 0xFFFFFFF0, 0x20, abi.ErrInternal, "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := hs.logs.count()
			stack := []uint64{tt.p, tt.n}
			hs.h.hostLogV2Original(context.Background(), hs.mod, stack)
			if got := api.DecodeI32(stack[0]); got != tt.want {
				t.Fatalf("returned %d, want %d", got, tt.want)
			}
			if tt.nothing {
				if hs.logs.count() != before {
					t.Fatalf("logged %q for a refused message", hs.logs.last(t).Message)
				}
				return
			}
			r := hs.logs.last(t)
			if r.Level != slog.LevelInfo || r.Message != tt.logged || attr(r, "module") != "guest.wasm" {
				t.Fatalf("got %v %q module=%q", r.Level, r.Message, attr(r, "module"))
			}
		})
	}
}
