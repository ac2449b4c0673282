package engine

import (
	"errors"
	"fmt"
	"slices"
)

// errTruncated ends a section walk on input that stops early; the module is
// then left to wazero, which reports the problem in full.
var errTruncated = errors.New("truncated module")

// memoryMinimums returns the minimum sizes, in pages, of the memories a
// module defines (its memory section). It reads only the section headers and
// the memory section, bounds-checks every length, and never allocates
// according to a length it has not checked.
//
// The engine needs it because wazero's own page limit is left at the wasm32
// maximum (so every memory.grow reaches limitAllocator, which can say why it
// refused); a declared minimum over the cap must be refused before wazero
// allocates it.
func memoryMinimums(wasm []byte) ([]uint64, error) {
	body, err := section(wasm, 5)
	if err != nil || body == nil {
		return nil, err
	}
	r := &reader{b: body}
	count, err := r.vec("memory section", -1, "entries")
	if err != nil {
		return nil, err
	}
	mins := make([]uint64, 0, count)
	for i := uint32(0); i < count && !r.bad; i++ {
		flags := r.byte()
		mins = append(mins, uint64(r.u32()))
		if flags&1 != 0 { // a maximum follows
			r.u32()
		}
	}
	if r.bad {
		return nil, errTruncated
	}
	return mins, nil
}

// sectionPastEnd is a section whose declared size passes the module's end.
type sectionPastEnd struct {
	id   byte
	size uint32
	left int
}

func (e *sectionPastEnd) Error() string {
	return fmt.Sprintf("section %d declares %d bytes, %d left in the module", e.id, e.size, e.left)
}

// forSections calls fn with each section's id and body, in order, until fn
// returns false; it checks every header's length on the way.
func forSections(wasm []byte, fn func(id byte, body []byte) bool) error {
	if len(wasm) < 8 {
		return errTruncated
	}
	b := wasm[8:]
	for len(b) > 0 {
		id := b[0]
		size, n, err := uleb32(b[1:])
		if err != nil {
			return err
		}
		b = b[1+n:]
		if uint64(size) > uint64(len(b)) {
			return &sectionPastEnd{id: id, size: size, left: len(b)}
		}
		if !fn(id, b[:size]) {
			return nil
		}
		b = b[size:]
	}
	return nil
}

// section returns the body of the first section with the given id (nil if
// there is none).
func section(wasm []byte, want byte) (body []byte, err error) {
	err = forSections(wasm, func(id byte, b []byte) bool {
		if id == want {
			body = b
		}
		return body == nil
	})
	return body, err
}

// exportsAny reports whether the module's export section names a function
// among names. It reads the section headers and the export section only;
// an error means the module is malformed there, and is left to wazero.
func exportsAny(wasm []byte, names []string) (bool, error) {
	body, err := section(wasm, 7)
	if err != nil || body == nil {
		return false, err
	}
	r := &reader{b: body}
	n, err := r.vec("export section", -1, "entries")
	found := false
	if err == nil {
		err = eachExport(r, n, func(name []byte, kind byte) {
			found = found || kind == 0 && slices.Contains(names, string(name))
		})
	}
	if err == nil && r.bad {
		err = errTruncated
	}
	return found, err
}

// MayBeService reports whether a module may be a service: false only when
// its export section is well formed and names no handler, so a job can be
// told apart without compiling it twice (a malformed module says true, and
// its compilation explains what is wrong).
func MayBeService(wasm []byte) bool {
	ok, err := exportsAny(wasm, Handlers)
	return ok || err != nil
}

// uleb32 decodes an unsigned LEB128 of at most 32 bits.
func uleb32(b []byte) (uint32, int, error) {
	var v uint64
	for i := 0; i < 5; i++ {
		if i >= len(b) {
			return 0, 0, errTruncated
		}
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			if v > 1<<32-1 {
				return 0, 0, fmt.Errorf("LEB128 value overflows 32 bits")
			}
			return uint32(v), i + 1, nil
		}
	}
	return 0, 0, fmt.Errorf("LEB128 longer than 5 bytes")
}
