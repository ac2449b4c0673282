package crdt

import (
	"encoding/binary"
	"fmt"

	"github.com/numax/numax/internal/abi"
)

// OpID identifies an op: its origin's NodeId and its sequence number there
// (1, 2, 3, ...). The zero OpID means "none" (e.g. the RGA head).
type OpID struct {
	Seq    uint64
	Origin string
}

// IsZero reports whether id is the zero OpID.
func (id OpID) IsZero() bool { return id.Seq == 0 && id.Origin == "" }

// String returns the text form "<seq>@<origin>".
func (id OpID) String() string { return abi.FormatOpID(id.Seq, id.Origin) }

// ParseOpID parses the text form.
func ParseOpID(b []byte) (OpID, error) {
	seq, origin, err := abi.ParseOpID(b)
	if err != nil {
		return OpID{}, err
	}
	return OpID{Seq: seq, Origin: origin}, nil
}

// compareID orders OpIDs by origin then seq (for canonical encodings).
func compareID(a, b OpID) int {
	switch {
	case a.Origin < b.Origin:
		return -1
	case a.Origin > b.Origin:
		return 1
	case a.Seq < b.Seq:
		return -1
	case a.Seq > b.Seq:
		return 1
	}
	return 0
}

// Type is a CRDT type; each has its own key space.
type Type uint8

// The seven types.
const (
	TypeGCounter Type = 1 + iota
	TypePNCounter
	TypeLWWRegister
	TypeLWWMap
	TypeORSet
	TypeRGA
	TypeText
	typeEnd
)

var typeNames = [...]string{"", "gcounter", "pncounter", "lww-register", "lww-map", "orset", "rga", "text"}

// String returns the type's name as the CLI spells it.
func (t Type) String() string {
	if t > 0 && t < typeEnd {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// ParseType parses a type name (as String returns it).
func ParseType(s string) (Type, error) {
	for t := TypeGCounter; t < typeEnd; t++ {
		if typeNames[t] == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown CRDT type %q: want gcounter, pncounter, lww-register, lww-map, orset, rga or text", s)
}

// Kind is what an op does.
type Kind uint8

// The twelve op kinds of docs/crdt.md.
const (
	GCounterInc Kind = 1 + iota
	PNCounterInc
	PNCounterDec
	LWWSet
	LWWMapSet
	LWWMapRemove
	ORSetAdd
	ORSetRemove
	RGAInsert
	RGADelete
	TextInsert
	TextDelete
	kindEnd
)

var kindNames = [...]string{"", "GCounterInc", "PNCounterInc", "PNCounterDec", "LWWSet", "LWWMapSet",
	"LWWMapRemove", "ORSetAdd", "ORSetRemove", "RGAInsert", "RGADelete", "TextInsert", "TextDelete"}

func (k Kind) String() string {
	if k > 0 && k < kindEnd {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Type returns the CRDT type an op kind changes.
func (k Kind) Type() Type {
	switch k {
	case GCounterInc:
		return TypeGCounter
	case PNCounterInc, PNCounterDec:
		return TypePNCounter
	case LWWSet:
		return TypeLWWRegister
	case LWWMapSet, LWWMapRemove:
		return TypeLWWMap
	case ORSetAdd, ORSetRemove:
		return TypeORSet
	case RGAInsert, RGADelete:
		return TypeRGA
	case TextInsert, TextDelete:
		return TypeText
	}
	return 0
}

// Op is one replicated operation. Which fields are used depends on Kind:
//
//	GCounterInc, PNCounterInc, PNCounterDec: Key, Delta
//	LWWSet: Key, Value
//	LWWMapSet: Key, Field, Value; LWWMapRemove: Key, Field
//	ORSetAdd: Key, Field (the element; its tag is the op's ID)
//	ORSetRemove: Key, Field, Tags (the add tags the origin observed)
//	RGAInsert: Key, Ref (the parent; zero = head), Value (the element id is the op's ID)
//	RGADelete: Key, Ref (the element)
//	TextInsert: Key, Ref and Delta (the parent character: its run and
//	  offset; zero = the start), Value (the UTF-8 text; its characters get
//	  ids (op id, 0), (op id, 1), ...)
//	TextDelete: Key, Value (the deleted characters: AppendTextRanges)
type Op struct {
	Origin string
	Seq    uint64
	HLC    uint64
	Kind   Kind
	Key    string
	Delta  uint64
	Field  []byte
	Value  []byte
	Tags   []OpID
	Ref    OpID

	// At is a local Text edit's visible position, which the replica turns
	// into Ref/Delta or Value under its lock. It is never encoded.
	At *TextPos

	// ranges caches a TextDelete's decoded Value (TextRanges): validating,
	// applying and storing it read them once.
	ranges []TextRange
}

// TextRanges returns a TextDelete's ranges, decoded once (the op keeps
// them).
func (op *Op) TextRanges() ([]TextRange, error) {
	if op.ranges != nil {
		return op.ranges, nil
	}
	rs, err := DecodeTextRanges(op.Value)
	if err == nil {
		op.ranges = rs
	}
	return rs, err
}

// SetTextRanges makes op's Value the encoding of rs (a TextDelete's,
// AppendTextRanges) and keeps rs, so that TextRanges need not decode it:
// for ranges a Text resolved itself (Text.ResolveDelete), valid as made.
func (op *Op) SetTextRanges(rs []TextRange) {
	n := binary.MaxVarintLen64
	for _, r := range rs {
		n += len(r.Run.Origin) + 4*binary.MaxVarintLen64
	}
	op.Value, op.ranges = AppendTextRanges(make([]byte, 0, n), rs), rs
}

// ID returns the op's OpID.
func (o *Op) ID() OpID { return OpID{Seq: o.Seq, Origin: o.Origin} }

// ObjKey names one CRDT object: its type and key.
type ObjKey struct {
	Type Type
	Key  string
}

// Obj returns the object an op changes.
func (o *Op) Obj() ObjKey { return ObjKey{Type: o.Kind.Type(), Key: o.Key} }
