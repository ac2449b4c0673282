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

func TestCompile_RefusesCountsPastTheirBytes(t *testing.T) {
	e, _ := newEngine(t, nil)
	hdr := "\x00asm\x01\x00\x00\x00"
	fuzzed := "\x00asm\x01\x00\x00\x00\x01\x04\x01`\x00\x00\x03\x03\x02\x00\x00\a\x14\x02\x03run\x00\x00\non_request\x00\x01"
	typeFunc := "\x01\x04\x01\x60\x00\x00" + "\x03\x02\x01\x00" // one type () -> (), one function of it
	body := func(b string) string { return "\x0a" + string(rune(len(b)+2)) + "\x01" + string(rune(len(b))) + b }
	tests := []struct {
		name, in, want string
	}{
		{"element_vector", hdr + typeFunc + "\x04\x04\x01\x70\x00\x01" + "\x09\x0a\x01\x00\x41\x00\x0b\xff\xff\xff\xff\x0f" + body("\x00\x0b"),
			"element segment 0 declares 4294967295 entries in 0 bytes"},
		{"data_bytes", hdr + "\x05\x03\x01\x00\x01" + "\x0b\x0a\x01\x00\x41\x00\x0b\xff\xff\xff\xff\x0f",
			"data segment 0 declares 4294967295 bytes in 0 bytes"},
		{"locals", hdr + typeFunc + body("\x02\xb0\xea\x01\x7f\xb0\xea\x01\x7f\x0b"), "function body 0 declares 60000 locals or more (limit 50000)"},
		{"function_names", hdr + "\x00\x0d\x04name\x01\x06\xff\xff\xff\xff\x0f\x00", "name section declares 4294967295 names in 1 bytes"},
		{"export_name", hdr + "\x07\x06\x01\xff\xff\xff\xff\x0f", "export 0 declares 4294967295 name bytes in 0 bytes"},
		{"import_name", hdr + "\x02\x08\x01\x01m\xff\xff\xff\xff\x0f", "import 0 declares 4294967295 name bytes in 0 bytes"},
		{"section_past_the_end", hdr + "\x07\x92\x30\x90\xa5\xe8\x74\xe1", "section 7 declares 6162 bytes, 5 left in the module"},
		{"count_past_the_section", hdr + "\x07\x00\x01\x04\x01\x60\x00\x00", "export section ends inside what it declares"},
		// Found by fuzzing: a code section of 7 bytes declaring 541 million
		// bodies; wazero allocated them all first and the process died.
		{"code", fuzzed + "\n\a\x82\x82\x82\x82\x02\x02\x00\v\x02\x00\v", "code section declares 541098242 entries in 2 bytes"},
		{"type", "\x00asm\x01\x00\x00\x00\x01\x03\xff\xff\x03", "type section declares 65535 entries in 0 bytes"},
		{"local_names", hdr + "\x00\x0e\x04name\x02\x07\x01\x00\xff\xff\xff\xff\x0f", "name section declares 4294967295 local names in 0 bytes"},
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

// FuzzCompile compiles whatever it is given: a module is compiled or
// refused with an error, and the process survives it (a count past its
// bytes once made wazero allocate 39 GB).
func FuzzCompile(f *testing.F) {
	f.Add(wt.Module{Funcs: []wt.Func{{Export: "run"}}}.Bytes())
	f.Add(wt.Module{MemoryPages: 1, Funcs: []wt.Func{{Export: "run", Body: []byte{wt.OpUnreachable}}}}.Bytes())
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x07\x07\x01\x03run\x00\x00\x0a\x04\x01\x02\x00\x0b"))
	e, _ := newEngine(f, nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := e.Compile(context.Background(), b)
		if err == nil {
			_ = m.Close(context.Background())
		}
	})
}
