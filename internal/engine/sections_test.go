package engine

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	wt "github.com/numax/numax/internal/wasmtest"
)

func TestMemoryMinimums(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want []uint64
		ok   bool
	}{
		{"no_memory", wt.Module{Funcs: []wt.Func{{Export: "run"}}}.Bytes(), nil, true},
		{"one_page", wt.Module{MemoryPages: 1}.Bytes(), []uint64{1}, true},
		{"large_min", wt.Module{MemoryPages: 70000}.Bytes(), []uint64{70000}, true},
		{"with_max", append([]byte("\x00asm\x01\x00\x00\x00"), 5, 4, 1, 1, 2, 9), []uint64{2}, true},
		{"too_short", []byte("\x00asm"), nil, false},
		{"section_overruns", append([]byte("\x00asm\x01\x00\x00\x00"), 5, 50, 1), nil, false},
		{"count_overruns", append([]byte("\x00asm\x01\x00\x00\x00"), 5, 2, 0xff, 0x01), nil, false},
		{"leb_too_long", append([]byte("\x00asm\x01\x00\x00\x00"), 5, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01), nil, false},
		{"max_missing", append([]byte("\x00asm\x01\x00\x00\x00"), 5, 3, 1, 1, 2), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := memoryMinimums(tt.in)
			if (err == nil) != tt.ok || len(got) != len(tt.want) {
				t.Fatalf("= %v, %v; want %v ok=%v", got, err, tt.want, tt.ok)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("= %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func FuzzMemoryMinimums(f *testing.F) {
	f.Add(wt.Module{MemoryPages: 1}.Bytes())
	f.Add(wt.Module{MemoryPages: 3, Funcs: []wt.Func{{Export: "run", Body: []byte{wt.OpUnreachable}}}}.Bytes())
	f.Add(append([]byte("\x00asm\x01\x00\x00\x00"), 5, 4, 1, 1, 2, 9))
	f.Fuzz(func(t *testing.T, b []byte) {
		mins, err := memoryMinimums(b)
		if err == nil && len(mins) > len(b) {
			t.Fatalf("%d memories from %d bytes", len(mins), len(b))
		}
	})
}

func TestMayBeService(t *testing.T) {
	hdr := []byte("\x00asm\x01\x00\x00\x00")
	tests := []struct {
		name string
		in   []byte
		want bool
	}{
		{"job_run", wt.Module{Funcs: []wt.Func{{Export: "run"}}}.Bytes(), false},
		{"job_start_and_memory", wt.Module{MemoryPages: 1, Funcs: []wt.Func{{Export: "_start"}}}.Bytes(), false},
		{"no_exports", wt.Module{Funcs: []wt.Func{{}}}.Bytes(), false},
		{"on_request", wt.Module{Funcs: []wt.Func{{Export: "run"}, {Export: ExportOnRequest}}}.Bytes(), true},
		{"on_tick_only", wt.Module{Funcs: []wt.Func{{Export: ExportOnTick}}}.Bytes(), true},
		{"init_is_not_a_handler", wt.Module{Funcs: []wt.Func{{Export: ExportInit}}}.Bytes(), false},
		// A memory named like a handler is not a function export.
		{"memory_named_on_change", wt.Module{MemoryPages: 1, MemoryExport: ExportOnChange}.Bytes(), false},
		// Malformed: left to the compiler, which explains it.
		{"too_short", []byte("\x00asm"), true},
		{"section_overruns", append(hdr, 7, 50, 1), true},
		{"name_overruns", append(hdr, 7, 3, 1, 9, 'o'), true},
		{"kind_missing", append(hdr, 7, 3, 1, 1, 'x'), true},
		{"index_missing", append(hdr, 7, 4, 1, 1, 'x', 0), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MayBeService(tt.in); got != tt.want {
				t.Fatalf("MayBeService = %v, want %v", got, tt.want)
			}
		})
	}
}

// FuzzMayBeService checks the export sniff against the module it was
// built from: well-formed modules with fuzzed export names and kinds.
func FuzzMayBeService(f *testing.F) {
	f.Add("run", ExportOnRequest, false)
	f.Add("_start", "helper", false)
	f.Add("run", ExportOnChange, true)
	f.Add(ExportOnTick, "run", false)
	f.Fuzz(func(t *testing.T, a, b string, memory bool) {
		if a == b {
			return // export names are unique
		}
		m := wt.Module{Funcs: []wt.Func{{Export: a}}}
		if memory {
			m.MemoryPages, m.MemoryExport = 1, b // a memory named b, not a function
		} else {
			m.Funcs = append(m.Funcs, wt.Func{Export: b})
		}
		want := slices.Contains(Handlers, a) || (!memory && slices.Contains(Handlers, b))
		if got := MayBeService(m.Bytes()); got != want {
			t.Fatalf("MayBeService(exports %q, %q, memory=%v) = %v, want %v", a, b, memory, got, want)
		}
	})
}

func TestCompile_RefusesCountsPastTheSection(t *testing.T) {
	e, _ := newEngine(t, nil)
	hdr := "\x00asm\x01\x00\x00\x00\x01\x04\x01`\x00\x00\x03\x03\x02\x00\x00\a\x14\x02\x03run\x00\x00\non_request\x00\x01"
	tests := []struct {
		name, in, want string
	}{
		// Found by fuzzing: a code section of 7 bytes declaring 541 million
		// bodies; wazero allocated them all first and the process died.
		{"code", hdr + "\n\a\x82\x82\x82\x82\x02\x02\x00\v\x02\x00\v", "code section declares 541098242 entries in 2 bytes"},
		{"type", "\x00asm\x01\x00\x00\x00\x01\x03\xff\xff\x03", "type section declares 65535 entries in 0 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Compile(context.Background(), []byte(tt.in))
			var ce *CompileError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Compile = %v, want a CompileError saying %q", err, tt.want)
			}
		})
	}
}
