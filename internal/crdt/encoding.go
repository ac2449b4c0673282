package crdt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/numax/numax/internal/abi"
)

// FormatVersion is the first byte of every encoded object and op. A decoder
// refuses any other value rather than guess.
const FormatVersion = 1

// ErrCorrupt wraps every decoding failure.
var ErrCorrupt = errors.New("crdt: corrupt encoding")

// VersionError reports an encoding of a format version this build does not
// know.
type VersionError struct{ Version byte }

func (e *VersionError) Error() string {
	return fmt.Sprintf("crdt: unknown format version %d (this build reads version %d)", e.Version, FormatVersion)
}

type enc []byte

func (b enc) uv(v uint64) enc    { return binary.AppendUvarint(b, v) }
func (b enc) bytes(p []byte) enc { return append(b.uv(uint64(len(p))), p...) }
func (b enc) str(s string) enc   { return append(b.uv(uint64(len(s))), s...) }
func (b enc) id(id OpID) enc     { return b.uv(id.Seq).str(id.Origin) }
func (b enc) flag(v bool) enc    { return append(b, boolByte(v)) }
func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
func sortedIDs(m map[OpID]struct{}) []OpID {
	ids := make([]OpID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, compareID)
	return ids
}

func (g *GCounter) appendBody(b enc) enc {
	var arr [8]string // a counter's origins are few: no allocation
	origins := arr[:0]
	for o, v := range g.Slots {
		if v != 0 {
			origins = append(origins, o)
		}
	}
	slices.Sort(origins)
	b = slices.Grow(b, 10+len(origins)*44) // per slot: 33 origin + 10 varint bytes at most
	b = b.uv(uint64(len(origins)))
	for _, o := range origins {
		b = b.str(o).uv(g.Slots[o])
	}
	return b
}

func (g *GCounter) AppendBinary(b []byte) []byte {
	return g.appendBody(enc(append(b, FormatVersion, byte(TypeGCounter))))
}

func (p *PNCounter) AppendBinary(b []byte) []byte {
	return p.N.appendBody(p.P.appendBody(enc(append(b, FormatVersion, byte(TypePNCounter)))))
}

func (r *LWWRegister) AppendBinary(b []byte) []byte {
	e := enc(append(b, FormatVersion, byte(TypeLWWRegister))).flag(r.Set)
	if r.Set {
		e = e.uv(r.Stamp.HLC).str(r.Stamp.Writer).bytes(r.Value)
	}
	return e
}

func (m *LWWMap) AppendBinary(b []byte) []byte {
	var body enc
	n := 0
	m.each(func(f string, en MapEntry) bool {
		body = body.str(f).uv(en.Stamp.HLC).str(en.Stamp.Writer).flag(en.Removed).bytes(en.Value)
		n++
		return true
	})
	return append(enc(append(b, FormatVersion, byte(TypeLWWMap))).uv(uint64(n)), body...)
}

func (s *ORSet) AppendBinary(b []byte) []byte {
	var body enc
	n := 0
	s.each(func(k string, el *SetElem) bool {
		body = body.str(k).uv(uint64(len(el.Adds)))
		for _, id := range sortedIDs(el.Adds) {
			body = body.id(id)
		}
		body = body.uv(uint64(len(el.Removes)))
		for _, id := range sortedIDs(el.Removes) {
			body = body.id(id)
		}
		n++
		return true
	})
	return append(enc(append(b, FormatVersion, byte(TypeORSet))).uv(uint64(n)), body...)
}

func (r *RGA) AppendBinary(b []byte) []byte {
	ids := make([]OpID, 0, len(r.Elems))
	for id := range r.Elems {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, compareID)
	e := enc(append(b, FormatVersion, byte(TypeRGA))).uv(uint64(len(ids)))
	for _, id := range ids {
		el := r.Elems[id]
		e = e.id(id).flag(el.Inserted).flag(el.Deleted)
		if el.Inserted {
			e = e.id(el.Parent).uv(el.HLC).bytes(el.Value)
		}
	}
	return e
}

// dec reads an encoding; the first error sticks and later reads return zero
// values, so decoders check once at the end.
type dec struct {
	b   []byte
	err error
	// in, if set, holds the node ids read so far: a decoded object's
	// elements share one string per origin.
	in interner
}

// interner returns one string per distinct byte sequence it keeps (the
// origins of a decoded object's ids, which repeat), at most internMax.
type interner map[string]string

const internMax = 4096

// str returns b as a string, the kept one if there is one.
func (in interner) str(b []byte) string {
	if s, ok := in[string(b)]; ok {
		return s
	}
	s := string(b)
	in.keep(s)
	return s
}

// keep keeps s while there is room (a nil interner keeps nothing).
func (in interner) keep(s string) {
	if in != nil && len(in) < internMax {
		in[s] = s
	}
}

func (d *dec) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
	}
}

func (d *dec) uv() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || (n > 1 && d.b[n-1] == 0) {
		// n > 1 with a zero last byte is a non-minimal encoding: refused,
		// so each value has exactly one encoding.
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) byte1() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *dec) flag() bool {
	switch d.byte1() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail("bad flag")
	return false
}

func (d *dec) bytes() []byte {
	n := d.uv()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("length %d overruns %d bytes", n, len(d.b))
		return nil
	}
	p := append([]byte{}, d.b[:n]...)
	d.b = d.b[n:]
	return p
}

func (d *dec) str() string { return string(d.bytes()) }

// nodeID reads a NodeId (32 lowercase hex); empty is allowed only if zero.
func (d *dec) nodeID(allowEmpty bool) string {
	n := d.uv()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.fail("length %d overruns %d bytes", n, len(d.b))
		return ""
	}
	raw := d.b[:n]
	d.b = d.b[n:]
	if s, ok := d.in[string(raw)]; ok {
		return s // checked when it was kept
	}
	s := string(raw)
	if allowEmpty && s == "" {
		return s
	}
	if !abi.ValidNodeID(raw) {
		d.fail("bad node id %q", s)
		return s
	}
	d.in.keep(s)
	return s
}

func (d *dec) id(allowZero bool) OpID {
	id := OpID{Seq: d.uv()}
	id.Origin = d.nodeID(allowZero && id.Seq == 0)
	if d.err == nil && id.Seq == 0 && (!allowZero || id.Origin != "") {
		d.fail("bad op id")
	}
	return id
}

// count reads an item count that must fit: each item takes at least min bytes.
func (d *dec) count(min int) int {
	n := d.uv()
	if d.err == nil && n > uint64(len(d.b)/min) {
		d.fail("count %d cannot fit in %d bytes", n, len(d.b))
		return 0
	}
	return int(n)
}

func (d *dec) header(want Type) {
	v := d.byte1()
	if d.err == nil && v != FormatVersion {
		d.err = &VersionError{Version: v}
		return
	}
	if t := Type(d.byte1()); d.err == nil && t != want {
		d.fail("type %s, want %s", t, want)
	}
}

func (d *dec) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return d.err
}

func (d *dec) gcounter(g *GCounter) {
	n := d.count(2)
	for i := 0; i < n && d.err == nil; i++ {
		o := d.nodeID(false)
		v := d.uv()
		if d.err == nil && v == 0 {
			d.fail("zero slot %s", o)
		}
		if g.Slots == nil {
			g.Slots = map[string]uint64{}
		}
		if _, dup := g.Slots[o]; dup {
			d.fail("duplicate slot %s", o)
		}
		g.Slots[o] = v
	}
}

// mapEntry reads an LWW-Map field's stamp, flag and value.
func (d *dec) mapEntry() MapEntry {
	return MapEntry{Stamp: Stamp{HLC: d.uv(), Writer: d.nodeID(false)}, Removed: d.flag(), Value: d.bytes()}
}

// setElem reads an ORSet element's add and removed tags into el; an
// element without any is malformed.
func (d *dec) setElem(el *SetElem) {
	for _, set := range []map[OpID]struct{}{el.Adds, el.Removes} {
		m := d.count(2)
		for j := 0; j < m && d.err == nil; j++ {
			set[d.id(false)] = struct{}{}
		}
	}
	if d.err == nil && len(el.Adds) == 0 && len(el.Removes) == 0 {
		d.fail("element without tags")
	}
}

// Decode decodes an object of type t from its canonical encoding. Anything
// that is not exactly one well-formed object is an error wrapping
// ErrCorrupt, or a *VersionError.
func Decode(t Type, b []byte) (Object, error) {
	d := &dec{b: b, in: interner{}}
	d.header(t)
	var obj Object
	switch t {
	case TypeGCounter:
		g := &GCounter{}
		d.gcounter(g)
		obj = g
	case TypePNCounter:
		p := &PNCounter{}
		d.gcounter(&p.P)
		d.gcounter(&p.N)
		obj = p
	case TypeLWWRegister:
		r := &LWWRegister{Set: d.flag()}
		if r.Set {
			r.Stamp = Stamp{HLC: d.uv(), Writer: d.nodeID(false)}
			r.Value = d.bytes()
		}
		obj = r
	case TypeLWWMap:
		m := &LWWMap{Fields: map[string]MapEntry{}}
		n := d.count(4)
		for i := 0; i < n && d.err == nil; i++ {
			f := d.str()
			e := d.mapEntry()
			if _, dup := m.Fields[f]; dup {
				d.fail("duplicate field")
			}
			m.Fields[f] = e
		}
		obj = m
	case TypeORSet:
		s := &ORSet{}
		n := d.count(3)
		for i := 0; i < n && d.err == nil; i++ {
			k := d.str()
			if _, dup := s.Elems[k]; dup {
				d.fail("duplicate element")
			}
			d.setElem(s.elem(k))
		}
		obj = s
	case TypeRGA:
		r := &RGA{}
		r.init()
		n := d.count(4)
		for i := 0; i < n && d.err == nil; i++ {
			id := d.id(false)
			e := &RGAElem{ID: id, Inserted: d.flag(), Deleted: d.flag()}
			if e.Inserted {
				e.Parent, e.HLC, e.Value = d.id(true), d.uv(), d.bytes()
			}
			if _, dup := r.Elems[id]; dup {
				d.fail("duplicate element %s", id)
			}
			if d.err == nil && !e.Inserted && !e.Deleted {
				d.fail("element %s neither inserted nor deleted", id)
			}
			r.Elems[id] = e
		}
		if d.err == nil {
			r.linkAll()
		}
		obj = r
	case TypeText:
		obj = d.text()
	default:
		return nil, fmt.Errorf("%w: unknown type %d", ErrCorrupt, t)
	}
	if err := d.done(); err != nil {
		return nil, err
	}
	return obj, nil
}

// AppendOp appends the encoding of op.
func AppendOp(b []byte, op *Op) []byte {
	// One allocation: the fixed fields take at most 2 + 33 + 3×10 + 3
	// varint bytes, an id at most 10 + 33.
	b = slices.Grow(b, 70+len(op.Key)+len(op.Field)+len(op.Value)+43*(len(op.Tags)+1))
	e := enc(append(b, FormatVersion, byte(op.Kind))).str(op.Origin).uv(op.Seq).uv(op.HLC).str(op.Key).
		uv(op.Delta).bytes(op.Field).bytes(op.Value).uv(uint64(len(op.Tags)))
	for _, t := range op.Tags {
		e = e.id(t)
	}
	return e.id(op.Ref)
}

// DecodeOp decodes one op and checks it is well-formed: a known kind, a
// valid origin and seq, a UTF-8 key, and the references its kind needs.
func DecodeOp(b []byte) (*Op, error) {
	d := &dec{b: b}
	if v := d.byte1(); d.err == nil && v != FormatVersion {
		return nil, &VersionError{Version: v}
	}
	op := &Op{Kind: Kind(d.byte1())}
	op.Origin = d.nodeID(false)
	op.Seq, op.HLC = d.uv(), d.uv()
	op.Key = d.str()
	op.Delta = d.uv()
	op.Field = d.bytes()
	op.Value = d.bytes()
	n := d.count(2)
	for i := 0; i < n && d.err == nil; i++ {
		op.Tags = append(op.Tags, d.id(false))
	}
	op.Ref = d.id(true)
	if err := d.done(); err != nil {
		return nil, err
	}
	if err := op.Validate(); err != nil {
		return nil, err
	}
	return op, nil
}

// Validate checks an op's fields against its kind.
func (op *Op) Validate() error {
	switch {
	case op.Kind == 0 || op.Kind >= kindEnd:
		return fmt.Errorf("%w: unknown op kind %d", ErrCorrupt, op.Kind)
	case op.Seq == 0 || !abi.ValidNodeID(op.Origin):
		return fmt.Errorf("%w: bad op id %d@%s", ErrCorrupt, op.Seq, op.Origin)
	case !utf8.ValidString(op.Key):
		return fmt.Errorf("%w: key is not UTF-8", ErrCorrupt)
	case op.Kind == RGADelete && op.Ref.IsZero():
		return fmt.Errorf("%w: RGA delete without an element id", ErrCorrupt)
	case op.Kind != ORSetRemove && len(op.Tags) > 0:
		return fmt.Errorf("%w: %s with tags", ErrCorrupt, op.Kind)
	case op.Kind != RGAInsert && op.Kind != RGADelete && op.Kind != TextInsert && !op.Ref.IsZero():
		return fmt.Errorf("%w: %s with a reference", ErrCorrupt, op.Kind)
	case op.Kind == TextInsert && (len(op.Value) == 0 || !utf8.Valid(op.Value)):
		return fmt.Errorf("%w: text insert of an empty or non-UTF-8 string", ErrCorrupt)
	case op.Kind == TextInsert && op.Ref.IsZero() && op.Delta != 0:
		return fmt.Errorf("%w: text insert at offset %d of no parent", ErrCorrupt, op.Delta)
	case op.Kind == TextDelete:
		if _, err := op.TextRanges(); err != nil {
			return err
		}
	}
	return nil
}
