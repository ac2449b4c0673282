package engine

import (
	"errors"
	"fmt"
)

// wazero's decoder allocates what a module declares before it reads it: a
// section's entries, an element segment's vector, a data segment's bytes,
// a function's locals, the name section's maps, a name's bytes. A count of a few bytes
// can ask for tens of GB, and the process dies out of memory instead of
// refusing the module. checkCounts reads those counts first and refuses
// any that is more than the bytes left to hold it (every entry takes at
// least one), or locals past maxLocals. It stops quietly wherever it meets
// something it does not parse (wazero then explains it, and allocates no
// more than it has checked).

// maxLocals is the most locals a function may declare; the browsers' wasm
// engines have the same limit.
const maxLocals = 50_000

// sectionNames name the sections whose body starts with a vector count.
var sectionNames = map[byte]string{1: "type", 2: "import", 3: "function", 4: "table", 5: "memory",
	6: "global", 7: "export", 9: "element", 10: "code", 11: "data", 13: "tag"}

// checkCounts returns an error naming the first count past its bytes.
func checkCounts(wasm []byte) (err error) {
	werr := forSections(wasm, func(id byte, body []byte) bool {
		r := &reader{b: body}
		name := sectionNames[id]
		switch {
		case id == 0:
			name = "name"
			err = checkNames(r)
		case name == "":
			return true
		default:
			var n uint32
			if n, err = r.vec(name+" section", -1, "entries"); err != nil || r.bad {
				break
			}
			switch id {
			case 2:
				err = checkImports(r, n)
			case 7:
				err = checkExports(r, n)
			case 9:
				err = checkElements(r, n)
			case 10:
				err = checkCode(r, n)
			case 11:
				err = checkData(r, n)
			}
		}
		// wazero reads on past a section's end for what the section
		// lacks, and allocates by what it finds there.
		if err == nil && r.short {
			err = fmt.Errorf("%s section ends inside what it declares", name)
		}
		return err == nil
	})
	// wazero decodes a section whose size passes the end too.
	var past *sectionPastEnd
	if err == nil && errors.As(werr, &past) {
		err = past
	}
	return err
}

// reader reads a section; bad is set at the first thing it cannot read,
// and short too if that is because the bytes ran out.
type reader struct {
	b          []byte
	bad, short bool
}

func (r *reader) u32() uint32 {
	if r.bad {
		return 0
	}
	v, n, err := uleb32(r.b)
	if err != nil {
		r.bad, r.short = true, err == errTruncated
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	if r.bad || len(r.b) == 0 {
		r.short = r.short || !r.bad
		r.bad = true
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) skip(n uint64) {
	if r.bad || n > uint64(len(r.b)) {
		r.short = r.short || !r.bad
		r.bad = true
		return
	}
	r.b = r.b[n:]
}

// skipLEB skips a LEB128 of up to 64 bits (signed or not).
func (r *reader) skipLEB() {
	for i := 0; i < 10; i++ {
		if r.byte()&0x80 == 0 {
			return
		}
	}
	r.bad = true
}

// vec reads a count of what, refusing one past the bytes left. where
// names the place, followed by index i unless it is negative (formatted
// only for the error: modules have thousands of segments and bodies).
func (r *reader) vec(where string, i int64, what string) (uint32, error) {
	n := r.u32()
	if !r.bad && uint64(n) > uint64(len(r.b)) {
		if i >= 0 {
			where = fmt.Sprintf("%s %d", where, i)
		}
		return 0, fmt.Errorf("%s declares %d %s in %d bytes", where, n, what, len(r.b))
	}
	return n, nil
}

// expr skips a constant expression (the instructions wazero accepts in
// one, extended-const included); anything else sets bad.
func (r *reader) expr() {
	for !r.bad {
		switch op := r.byte(); op {
		case 0x0b: // end
			return
		case 0x41, 0x42, 0x23, 0xd2: // i32/i64.const, global.get, ref.func
			r.skipLEB()
		case 0x43:
			r.skip(4)
		case 0x44:
			r.skip(8)
		case 0xd0: // ref.null heaptype
			r.skipLEB()
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // i32/i64 add, sub, mul
		case 0xfd: // v128.const
			if r.u32() != 12 {
				r.bad = true
			}
			r.skip(16)
		default:
			r.bad = true
		}
	}
}

func checkElements(r *reader, segments uint32) error {
	for i := uint32(0); i < segments && !r.bad; i++ {
		flag := r.u32()
		if flag > 7 {
			return nil
		}
		if flag == 2 || flag == 6 {
			r.u32() // table index
		}
		if flag&1 == 0 {
			r.expr() // offset
		}
		if flag&3 != 0 { // an element kind or a reference type
			if k := r.byte(); (flag < 4 && k != 0) || (flag >= 4 && k != 0x70 && k != 0x6f) {
				return nil
			}
		}
		n, err := r.vec("element segment", int64(i), "entries")
		if err != nil {
			return err
		}
		for j := uint32(0); j < n && !r.bad; j++ {
			if flag < 4 {
				r.u32() // a function index
			} else {
				r.expr()
			}
		}
	}
	return nil
}

func checkData(r *reader, segments uint32) error {
	for i := uint32(0); i < segments && !r.bad; i++ {
		switch flag := r.u32(); flag {
		case 0:
			r.expr()
		case 1:
		case 2:
			r.u32() // memory index
			r.expr()
		default:
			return nil
		}
		n, err := r.vec("data segment", int64(i), "bytes")
		if err != nil {
			return err
		}
		r.skip(uint64(n))
	}
	return nil
}

func checkCode(r *reader, bodies uint32) error {
	for i := uint32(0); i < bodies && !r.bad; i++ {
		size, err := r.vec("function body", int64(i), "bytes")
		if err != nil || r.bad {
			return err
		}
		body := &reader{b: r.b[:size]}
		r.skip(uint64(size))
		decls, err := body.vec("function body", int64(i), "local declarations")
		if err != nil {
			return err
		}
		var locals uint64
		for j := uint32(0); j < decls && !body.bad; j++ {
			locals += uint64(body.u32())
			body.valType()
			if !body.bad && locals > maxLocals {
				return fmt.Errorf("function body %d declares %d locals or more (limit %d)", i, locals, maxLocals)
			}
		}
		r.short = r.short || body.short
	}
	return nil
}

// checkNames checks the name section's counts and lengths (a custom
// section wazero decodes; others it keeps as bytes, already bounded).
func checkNames(r *reader) error {
	name := r.u32()
	if r.bad || uint64(name) > uint64(len(r.b)) || string(r.b[:name]) != "name" {
		return nil
	}
	r.skip(uint64(name))
	for !r.bad && len(r.b) > 0 {
		id := r.byte()
		size, err := r.vec("name subsection", -1, "bytes")
		if err != nil || r.bad {
			return err
		}
		sub := &reader{b: r.b[:size]}
		r.skip(uint64(size))
		if id != 1 && id != 2 {
			continue
		}
		n, err := sub.vec("name section", -1, "names")
		if err != nil {
			return err
		}
		for i := uint32(0); i < n && !sub.bad; i++ {
			sub.u32() // function index
			inner := uint32(1)
			if id == 2 {
				if inner, err = sub.vec("name section", -1, "local names"); err != nil {
					return err
				}
			}
			for j := uint32(0); j < inner && !sub.bad; j++ {
				if id == 2 {
					sub.u32() // local index
				}
				l, err := sub.vec("name section", -1, "name bytes")
				if err != nil {
					return err
				}
				sub.skip(uint64(l))
			}
		}
		r.short = r.short || sub.short
	}
	return nil
}

// name reads a name, checking its length first.
func (r *reader) name(where string, i int64) ([]byte, error) {
	n, err := r.vec(where, i, "name bytes")
	if err != nil || r.bad || uint64(n) > uint64(len(r.b)) {
		return nil, err
	}
	name := r.b[:n]
	r.skip(uint64(n))
	return name, nil
}

// valType skips a value type: a byte, or (ref null? heaptype).
func (r *reader) valType() {
	if t := r.byte(); t == 0x63 || t == 0x64 {
		r.skipLEB()
	}
}

// limits skips a table's or a memory's limits.
func (r *reader) limits() {
	flags := r.byte()
	r.u32()
	if flags&1 != 0 {
		r.u32()
	}
}

func checkImports(r *reader, n uint32) error {
	for i := uint32(0); i < n && !r.bad; i++ {
		for range 2 { // module and field
			if _, err := r.name("import", int64(i)); err != nil {
				return err
			}
		}
		switch r.byte() {
		case 0: // a function: its type
			r.u32()
		case 1: // a table
			r.valType()
			r.limits()
		case 2: // a memory
			r.limits()
		case 3: // a global
			r.valType()
			r.byte()
		default:
			r.bad = true
		}
	}
	return nil
}

func checkExports(r *reader, n uint32) error { return eachExport(r, n, nil) }

// eachExport reads n exports, calling fn (if set) with each one's name and
// kind.
func eachExport(r *reader, n uint32, fn func(name []byte, kind byte)) error {
	for i := uint32(0); i < n && !r.bad; i++ {
		name, err := r.name("export", int64(i))
		if err != nil {
			return err
		}
		kind := r.byte()
		r.u32() // the index
		if fn != nil && !r.bad {
			fn(name, kind)
		}
	}
	return nil
}
