// Package wasmtest builds small WebAssembly binaries for tests: exact
// fixtures (an endless loop, a trap, a bad import) without a toolchain.
//
// It encodes only what the tests use: function types, function and memory
// imports, functions with raw bytecode bodies, one memory, exports and active
// data segments. It is test support and is never linked into nx.
package wasmtest

// Value types.
const (
	I32 byte = 0x7f
	I64 byte = 0x7e
)

// Type is a function type.
type Type struct{ Params, Results []byte }

// Import is a function import.
type Import struct {
	Module, Name string
	Type         Type
}

// Func is a defined function: its type and its body's bytecode, without the
// locals vector and without the final `end` (both are added).
type Func struct {
	Type   Type
	Locals []byte // one i32/i64 per local
	Body   []byte
	Export string // export name, "" for none
}

// Module is a module to encode.
type Module struct {
	Imports []Import
	Funcs   []Func
	// MemoryPages > 0 defines one memory exported as MemoryExport
	// ("memory" if empty).
	MemoryPages  uint32
	MemoryExport string
	// ImportMemory, when set, imports the memory instead (module, name).
	ImportMemory [2]string
	// Data are active segments at (offset, bytes) of memory 0.
	Data []Data
}

// Data is an active data segment.
type Data struct {
	Offset uint32
	Bytes  []byte
}

func uleb(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			c |= 0x80
		}
		b = append(b, c)
		if v == 0 {
			return b
		}
	}
}

// SLEB appends a signed LEB128 (for i32.const / i64.const immediates).
func SLEB(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		done := (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0)
		if !done {
			c |= 0x80
		}
		b = append(b, c)
		if done {
			return b
		}
	}
}

func name(b []byte, s string) []byte { return append(uleb(b, uint64(len(s))), s...) }

func section(out []byte, id byte, body []byte) []byte {
	out = append(out, id)
	out = uleb(out, uint64(len(body)))
	return append(out, body...)
}

// Bytes encodes m.
func (m Module) Bytes() []byte {
	var types []Type
	typeIdx := func(t Type) uint64 {
		for i, u := range types {
			if string(u.Params) == string(t.Params) && string(u.Results) == string(t.Results) {
				return uint64(i)
			}
		}
		types = append(types, t)
		return uint64(len(types) - 1)
	}
	var imports, funcs []byte
	nImports := uint64(len(m.Imports))
	for _, im := range m.Imports {
		imports = name(imports, im.Module)
		imports = name(imports, im.Name)
		imports = append(imports, 0x00)
		imports = uleb(imports, typeIdx(im.Type))
	}
	if m.ImportMemory[0] != "" {
		imports = name(imports, m.ImportMemory[0])
		imports = name(imports, m.ImportMemory[1])
		imports = append(imports, 0x02, 0x00, 0x01)
		nImports++
	}
	funcs = uleb(funcs, uint64(len(m.Funcs)))
	for _, f := range m.Funcs {
		funcs = uleb(funcs, typeIdx(f.Type))
	}
	var typeSec []byte
	typeSec = uleb(typeSec, uint64(len(types)))
	for _, t := range types {
		typeSec = append(typeSec, 0x60)
		typeSec = uleb(typeSec, uint64(len(t.Params)))
		typeSec = append(typeSec, t.Params...)
		typeSec = uleb(typeSec, uint64(len(t.Results)))
		typeSec = append(typeSec, t.Results...)
	}

	out := []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}
	out = section(out, 1, typeSec)
	if nImports > 0 {
		out = section(out, 2, append(uleb(nil, nImports), imports...))
	}
	out = section(out, 3, funcs)
	if m.MemoryPages > 0 {
		out = section(out, 5, uleb([]byte{0x01, 0x00}, uint64(m.MemoryPages)))
	}
	var exports []byte
	nExports := uint64(0)
	for i, f := range m.Funcs {
		if f.Export != "" {
			exports = name(exports, f.Export)
			exports = append(exports, 0x00)
			exports = uleb(exports, uint64(len(m.Imports)+i))
			nExports++
		}
	}
	if m.MemoryPages > 0 {
		exp := m.MemoryExport
		if exp == "" {
			exp = "memory"
		}
		exports = name(exports, exp)
		exports = append(exports, 0x02, 0x00)
		nExports++
	}
	out = section(out, 7, append(uleb(nil, nExports), exports...))
	var code []byte
	code = uleb(code, uint64(len(m.Funcs)))
	for _, f := range m.Funcs {
		var body []byte
		body = uleb(body, uint64(len(f.Locals)))
		for _, l := range f.Locals {
			body = append(body, 0x01, l)
		}
		body = append(body, f.Body...)
		body = append(body, 0x0b)
		code = uleb(code, uint64(len(body)))
		code = append(code, body...)
	}
	out = section(out, 10, code)
	if len(m.Data) > 0 {
		var data []byte
		data = uleb(data, uint64(len(m.Data)))
		for _, d := range m.Data {
			data = append(data, 0x00, 0x41)
			data = SLEB(data, int64(int32(d.Offset)))
			data = append(data, 0x0b)
			data = uleb(data, uint64(len(d.Bytes)))
			data = append(data, d.Bytes...)
		}
		out = section(out, 11, data)
	}
	return out
}

// Common opcodes for bodies.
const (
	OpUnreachable = 0x00
	OpBlock       = 0x02
	OpLoop        = 0x03
	OpBlockVoid   = 0x40
	OpBr          = 0x0c
	OpBrIf        = 0x0d
	OpEnd         = 0x0b
	OpCall        = 0x10
	OpDrop        = 0x1a
	OpLocalGet    = 0x20
	OpLocalSet    = 0x21
	OpI32Const    = 0x41
	OpI64Const    = 0x42
	OpI32Eq       = 0x46
	OpI32Ne       = 0x47
	OpI32Add      = 0x6a
	OpMemoryGrow  = 0x40 // prefixed by nothing; followed by 0x00
)

// I32Const returns the bytecode of i32.const v.
func I32Const(v int32) []byte { return SLEB([]byte{OpI32Const}, int64(v)) }

// Call returns the bytecode of call idx.
func Call(idx uint32) []byte { return uleb([]byte{OpCall}, uint64(idx)) }

// Cat concatenates bytecode pieces.
func Cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// FourI32 is the type (i32, i32, i32, i32) -> i32 of most nx functions.
var FourI32 = Type{Params: []byte{I32, I32, I32, I32}, Results: []byte{I32}}

// LoopModule is a module exporting loop(n i32), which runs body n times;
// body may use local 0 (the remaining count).
func LoopModule(imports []Import, body []byte, data []Data) []byte {
	loop := Cat(
		[]byte{OpLoop, OpBlockVoid},
		body,
		[]byte{OpLocalGet, 0}, I32Const(1), []byte{0x6b /* i32.sub */, 0x22 /* local.tee */, 0},
		[]byte{OpBrIf, 0, OpEnd},
	)
	return Module{
		Imports: imports, MemoryPages: 2, Data: data,
		Funcs: []Func{{Type: Type{Params: []byte{I32}}, Body: loop, Export: "loop"}},
	}.Bytes()
}
