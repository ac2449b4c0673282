package abi

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"testing"
)

func TestFunctions_UniqueAndComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range Functions {
		if seen[f.Name] {
			t.Errorf("duplicate %s", f.Name)
		}
		seen[f.Name] = true
		if got, ok := Lookup(f.Name); !ok || got.Name != f.Name {
			t.Errorf("Lookup(%s) failed", f.Name)
		}
		syncOnly := strings.HasPrefix(f.Name, "crdt_") || strings.HasPrefix(f.Name, "net_")
		if f.SyncOnly != syncOnly {
			t.Errorf("%s: SyncOnly = %v", f.Name, f.SyncOnly)
		}
	}
	if len(Functions) != 54 {
		t.Fatalf("%d functions, docs/host-abi.md lists 49 and docs/serving.md 5", len(Functions))
	}
	if _, ok := Lookup("nope"); ok {
		t.Fatal("Lookup(nope) succeeded")
	}
}

func TestFunc_Signature(t *testing.T) {
	for _, tt := range []struct {
		name, want string
	}{
		{"host_log", "(i32, i32) -> ()"},
		{"time_now", "() -> i64"},
		{"db_scan", "(i32, i32, i64, i32, i32, i32) -> i32"},
		{"crdt_gcounter_inc", "(i32, i32, i64) -> i32"},
	} {
		f, _ := Lookup(tt.name)
		if got := f.Signature(); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestCapabilities(t *testing.T) {
	c := Capabilities()
	names := strings.Split(c, "\n")
	if len(names) != len(Functions) || !sort.StringsAreSorted(names) || strings.HasSuffix(c, "\n") {
		t.Fatalf("capabilities = %q", c)
	}
}

func TestIsReserved(t *testing.T) {
	for in, want := range map[string]bool{"__nx/": true, "__nx/a": true, "__nx": false, "_nx/a": false, "": false, "a__nx/": false} {
		if IsReserved([]byte(in)) != want {
			t.Errorf("IsReserved(%q) != %v", in, want)
		}
	}
}

func TestReadableEnvName(t *testing.T) {
	for in, want := range map[string]bool{
		"NX_A": true, "NUMAX_MODE_2": true, "NX_A_B_9": true,
		"NX_": false, "NUMAX_": false, "PATH": false, "NX_a": false, "nx_A": false, "NX-A": false, "XNX_A": false,
		"NX_" + strings.Repeat("A", 125): true, "NX_" + strings.Repeat("A", 126): false,
	} {
		if ReadableEnvName([]byte(in)) != want {
			t.Errorf("ReadableEnvName(%q) != %v", in, want)
		}
	}
}

func TestValidEventName(t *testing.T) {
	l := DefaultLimits()
	for in, want := range map[string]bool{
		"a": true, "order.created:v1": true, "A-Z_0-9.:": true, strings.Repeat("x", 128): true,
		"": false, "a b": false, "a/b": false, "é": false, strings.Repeat("x", 129): false,
	} {
		if l.ValidEventName([]byte(in)) != want {
			t.Errorf("ValidEventName(%q) != %v", in, want)
		}
	}
}

func TestLimits_Validate(t *testing.T) {
	if err := DefaultLimits().Validate(); err != nil {
		t.Fatal(err)
	}
	l := DefaultLimits()
	l.MaxScanLimit = 0
	if err := l.Validate(); err == nil || !strings.Contains(err.Error(), "max_scan_limit") {
		t.Fatalf("zero limit: %v", err)
	}
}

func TestRows_RoundTrip(t *testing.T) {
	for _, rows := range [][]Row{
		{},
		{{Key: []byte{}, Value: []byte{}}},
		{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("bb"), Value: bytes.Repeat([]byte{0}, 300)}},
	} {
		enc := AppendRows(nil, rows)
		if len(enc) != RowsSize(rows) {
			t.Fatalf("RowsSize = %d, encoded %d", RowsSize(rows), len(enc))
		}
		dec, err := DecodeRows(enc)
		if err != nil || fmt.Sprint(dec) != fmt.Sprint(rows) {
			t.Fatalf("DecodeRows = %v, %v; want %v", dec, err, rows)
		}
		pairs := AppendPairs(nil, rows)
		dp, err := DecodePairs(pairs)
		if err != nil || fmt.Sprint(dp) != fmt.Sprint(rows) {
			t.Fatalf("DecodePairs = %v, %v", dp, err)
		}
	}
}

func TestList_RoundTrip(t *testing.T) {
	items := [][]byte{[]byte("x"), {}, []byte("hello")}
	enc := AppendList(nil, items)
	if len(enc) != ListSize(items) {
		t.Fatalf("ListSize mismatch")
	}
	dec, err := DecodeList(enc)
	if err != nil || fmt.Sprint(dec) != fmt.Sprint(items) {
		t.Fatalf("DecodeList = %q, %v", dec, err)
	}
	peers := []Peer{{Addr: "127.0.0.1:9000", NodeID: strings.Repeat("a", 32)}, {}}
	dp, err := DecodePeers(AppendPeers(nil, peers))
	if err != nil || fmt.Sprint(dp) != fmt.Sprint(peers) {
		t.Fatalf("DecodePeers = %v, %v", dp, err)
	}
}

func TestDecode_Malformed(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"short_count", []byte{1, 0}},
		{"count_without_items", []byte{1, 0, 0, 0}},
		{"huge_count", []byte{0xff, 0xff, 0xff, 0xff}},
		{"length_overruns", []byte{1, 0, 0, 0, 9, 0, 0, 0, 'a'}},
		{"huge_length", []byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}},
		{"trailing", []byte{0, 0, 0, 0, 'x'}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeRows(tt.in); err == nil {
				t.Error("DecodeRows accepted it")
			}
			if _, err := DecodeList(tt.in); err == nil && tt.name != "count_without_items" {
				t.Error("DecodeList accepted it")
			}
			if _, err := DecodePairs(tt.in); err == nil {
				t.Error("DecodePairs accepted it")
			}
			if _, err := DecodePeers(tt.in); err == nil {
				t.Error("DecodePeers accepted it")
			}
		})
	}
}

func TestParseOpID(t *testing.T) {
	origin := "0123456789abcdef0123456789abcdef"
	tests := []struct {
		in  string
		seq uint64
		ok  bool
	}{
		{"1@" + origin, 1, true},
		{"17@" + origin, 17, true},
		{"18446744073709551615@" + origin, 1<<64 - 1, true},
		{"18446744073709551616@" + origin, 0, false},
		{"0@" + origin, 0, false},
		{"01@" + origin, 0, false},
		{"-1@" + origin, 0, false},
		{"@" + origin, 0, false},
		{"1" + origin, 0, false},
		{"1@" + strings.ToUpper(origin), 0, false},
		{"1@" + origin[:31], 0, false},
		{"1@" + origin + "0", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		seq, o, err := ParseOpID([]byte(tt.in))
		if (err == nil) != tt.ok || seq != tt.seq || (tt.ok && o != origin) {
			t.Errorf("ParseOpID(%q) = %d %q %v", tt.in, seq, o, err)
		}
		if tt.ok && FormatOpID(seq, o) != tt.in {
			t.Errorf("FormatOpID round trip of %q", tt.in)
		}
	}
}

func TestCodeName(t *testing.T) {
	for code, want := range map[int32]string{0: "", 5: "", -1: "ERR_NOT_FOUND", -2: "ERR_BUFFER_TOO_SMALL", -3: "ERR_INTERNAL", -4: "ERR_RESERVED_KEY", -5: "ERR_SYNC_DISABLED", -9: "ERR_UNKNOWN"} {
		if got := CodeName(code); got != want {
			t.Errorf("CodeName(%d) = %q", code, got)
		}
	}
}
