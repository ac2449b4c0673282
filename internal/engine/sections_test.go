package engine

import (
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
