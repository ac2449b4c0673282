package engine

import (
	"errors"
	"fmt"
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
	if len(wasm) < 8 {
		return nil, errTruncated
	}
	b := wasm[8:]
	for len(b) > 0 {
		id := b[0]
		size, n, err := uleb32(b[1:])
		if err != nil {
			return nil, err
		}
		b = b[1+n:]
		if uint64(size) > uint64(len(b)) {
			return nil, errTruncated
		}
		body := b[:size]
		b = b[size:]
		if id != 5 {
			continue
		}
		count, n, err := uleb32(body)
		if err != nil {
			return nil, err
		}
		body = body[n:]
		if uint64(count) > uint64(len(body)) {
			return nil, errTruncated // each memory takes at least two bytes
		}
		mins := make([]uint64, 0, count)
		for i := uint32(0); i < count; i++ {
			if len(body) == 0 {
				return nil, errTruncated
			}
			flags := body[0]
			min, n, err := uleb32(body[1:])
			if err != nil {
				return nil, err
			}
			body = body[1+n:]
			if flags&1 != 0 { // a maximum follows
				if _, n, err = uleb32(body); err != nil {
					return nil, err
				}
				body = body[n:]
			}
			mins = append(mins, uint64(min))
		}
		return mins, nil
	}
	return nil, nil
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
