package wire

import (
	"encoding/binary"
	"errors"
	"slices"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/numax/numax/internal/abi"
	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/opauth"
)

// PushOps frames are most of the traffic: every op crosses the wire in one.
// Going through the generated message types costs a wirepb.Op (and OpIds)
// per op on both ends, and the reflection-driven codec around them. The
// two functions here encode and decode a binary PushOps frame straight
// between bytes and a Message, with the same schema (wirepb.PushOps):
//
//   - AppendPushFrame writes the bytes EncodeFrame(FromMessage(m), TagBinary)
//     writes (the tests compare them).
//   - DecodePush takes the plain form of a PushOps frame (each field of the
//     schema at most once where the schema has one, valid UTF-8, nothing
//     unknown, every op valid) and returns what Unmarshal and ToMessage
//     return for it. Anything else, well formed or not, it leaves to them
//     (ok false), so that what is accepted and every error stay theirs.

// Field numbers of the schema (wire.proto).
const (
	fieldFramePush = 4

	fieldPushOps    = 1
	fieldPushHeads  = 2
	fieldPushCerts  = 3
	fieldPushAnswer = 4

	fieldOpOrigin = 1
	fieldOpSeq    = 2
	fieldOpHLC    = 3
	fieldOpKind   = 4
	fieldOpKey    = 5
	fieldOpDelta  = 6
	fieldOpField  = 7
	fieldOpValue  = 8
	fieldOpTags   = 9
	fieldOpRef    = 10

	fieldIDSeq    = 1
	fieldIDOrigin = 2

	fieldHeadOrigin = 1
	fieldHeadSeq    = 2
	fieldHeadChain  = 3
	fieldHeadSig    = 4
)

// errNotUTF8 is what proto.Marshal refuses too: a string field that is not
// UTF-8 (proto3 strings must be).
var errNotUTF8 = errors.New("wire: string field contains invalid UTF-8")

// AppendPushFrame appends the binary frame of a PushOps message m.
func AppendPushFrame(b []byte, m *Message) ([]byte, error) {
	for _, op := range m.Ops {
		if !utf8.ValidString(op.Origin) || !utf8.ValidString(op.Key) {
			return b, errNotUTF8
		}
		for _, t := range op.Tags {
			if !utf8.ValidString(t.Origin) {
				return b, errNotUTF8
			}
		}
		if !utf8.ValidString(op.Ref.Origin) {
			return b, errNotUTF8
		}
	}
	for _, h := range m.Heads {
		if !utf8.ValidString(h.Origin) {
			return b, errNotUTF8
		}
	}
	size := pushSize(m)
	frame := 1 + protowire.SizeVarint(uint64(size)) + size
	b = slices.Grow(b, 5+frame)
	b = binary.BigEndian.AppendUint32(b, uint32(frame+1))
	b = append(b, TagBinary)
	b = protowire.AppendTag(b, fieldFramePush, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	for _, op := range m.Ops {
		b = protowire.AppendTag(b, fieldPushOps, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(opSize(op)))
		b = appendOp(b, op)
	}
	for _, h := range m.Heads {
		b = protowire.AppendTag(b, fieldPushHeads, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(headSize(h)))
		b = appendString(b, fieldHeadOrigin, h.Origin)
		b = appendUint(b, fieldHeadSeq, h.Seq)
		b = appendString(b, fieldHeadChain, string(h.Chain[:]))
		b = appendBytes(b, fieldHeadSig, h.Sig)
	}
	for _, c := range m.Certs {
		b = protowire.AppendTag(b, fieldPushCerts, protowire.BytesType)
		b = protowire.AppendBytes(b, c)
	}
	if m.Answer {
		b = protowire.AppendTag(b, fieldPushAnswer, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
	}
	return b, nil
}

func pushSize(m *Message) int {
	n := 0
	for _, op := range m.Ops {
		n += lenField(opSize(op))
	}
	for _, h := range m.Heads {
		n += lenField(headSize(h))
	}
	for _, c := range m.Certs {
		n += lenField(len(c))
	}
	if m.Answer {
		n += 2
	}
	return n
}

// lenField is the size of a length-delimited field of n bytes (field
// numbers here are below 16: a one-byte tag).
func lenField(n int) int { return 1 + protowire.SizeVarint(uint64(n)) + n }

func stringSize(s string) int {
	if s == "" {
		return 0
	}
	return lenField(len(s))
}

func uintSize(v uint64) int {
	if v == 0 {
		return 0
	}
	return 1 + protowire.SizeVarint(v)
}

func idSize(id crdt.OpID) int { return uintSize(id.Seq) + stringSize(id.Origin) }

func opSize(op *crdt.Op) int {
	n := stringSize(op.Origin) + uintSize(op.Seq) + uintSize(op.HLC) + uintSize(uint64(op.Kind)) +
		stringSize(op.Key) + uintSize(op.Delta) + stringSize(string(op.Field)) + stringSize(string(op.Value))
	for _, t := range op.Tags {
		n += lenField(idSize(t))
	}
	if !op.Ref.IsZero() {
		n += lenField(idSize(op.Ref))
	}
	return n
}

func headSize(h *opauth.Head) int {
	return stringSize(h.Origin) + uintSize(h.Seq) + lenField(len(h.Chain)) + stringSize(string(h.Sig))
}

func appendOp(b []byte, op *crdt.Op) []byte {
	b = appendString(b, fieldOpOrigin, op.Origin)
	b = appendUint(b, fieldOpSeq, op.Seq)
	b = appendUint(b, fieldOpHLC, op.HLC)
	b = appendUint(b, fieldOpKind, uint64(op.Kind))
	b = appendString(b, fieldOpKey, op.Key)
	b = appendUint(b, fieldOpDelta, op.Delta)
	b = appendBytes(b, fieldOpField, op.Field)
	b = appendBytes(b, fieldOpValue, op.Value)
	for _, t := range op.Tags {
		b = appendID(b, fieldOpTags, t)
	}
	if !op.Ref.IsZero() {
		b = appendID(b, fieldOpRef, op.Ref)
	}
	return b
}

func appendID(b []byte, num protowire.Number, id crdt.OpID) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(idSize(id)))
	b = appendUint(b, fieldIDSeq, id.Seq)
	return appendString(b, fieldIDOrigin, id.Origin)
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendUint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// DecodePush decodes a binary frame payload holding a PushOps in its plain
// form; ok is false for any other payload (decode it with Unmarshal and
// ToMessage).
func DecodePush(payload []byte) (m *Message, ok bool) {
	num, typ, n := protowire.ConsumeTag(payload)
	if n < 0 || num != fieldFramePush || typ != protowire.BytesType {
		return nil, false
	}
	body, k := protowire.ConsumeBytes(payload[n:])
	if k < 0 || n+k != len(payload) {
		return nil, false
	}
	d := pushDecoder{}
	// First the ops are counted (and the fields checked), to make their
	// array once.
	if !eachField(body, 1<<fieldPushAnswer, 1<<fieldPushAnswer, func(num protowire.Number, _ uint64, _ []byte) bool {
		if num == fieldPushOps {
			d.ops++
		}
		return num >= fieldPushOps && num <= fieldPushAnswer
	}) {
		return nil, false
	}
	m = &Message{Kind: PushOps, VV: map[string]uint64{}}
	if d.ops > 0 {
		d.buf = make([]crdt.Op, d.ops)
		m.Ops = make([]*crdt.Op, 0, d.ops)
	}
	if !eachField(body, 1<<fieldPushAnswer, 1<<fieldPushAnswer, func(num protowire.Number, v uint64, p []byte) bool {
		switch num {
		case fieldPushOps:
			op := &d.buf[len(m.Ops)]
			if !d.op(op, p) || op.Validate() != nil {
				return false
			}
			m.Ops = append(m.Ops, op)
		case fieldPushHeads:
			h, ok := decodeHead(p)
			if !ok {
				return false
			}
			m.Heads = append(m.Heads, h)
		case fieldPushCerts:
			m.Certs = append(m.Certs, append([]byte{}, p...))
		case fieldPushAnswer:
			m.Answer = v != 0
		}
		return true
	}) {
		return nil, false
	}
	return m, true
}

// eachField calls fn with each field of message b: its number and its
// value, v for the numbers in varints, p (length-delimited) for the
// others. It fails (false) at a field of another wire type, at a second
// field of a number in once (proto would merge them: left to the
// generated codec), at anything it cannot read, or when fn says false
// (fn refuses the numbers it does not know).
func eachField(b []byte, varints, once uint32, fn func(num protowire.Number, v uint64, p []byte) bool) bool {
	var seen uint32
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num > 31 {
			return false
		}
		b = b[n:]
		bit := uint32(1) << num
		if once&bit != 0 {
			if seen&bit != 0 {
				return false
			}
			seen |= bit
		}
		var v uint64
		var p []byte
		switch {
		case varints&bit != 0 && typ == protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case varints&bit == 0 && typ == protowire.BytesType:
			p, n = protowire.ConsumeBytes(b)
		default:
			return false
		}
		if n < 0 || !fn(num, v, p) {
			return false
		}
		b = b[n:]
	}
	return true
}

// pushDecoder keeps what a PushOps decode shares across its ops: their
// backing array, and the last origin and key seen, so that a batch of one
// origin's ops on a few keys makes one string of each, not one per op.
type pushDecoder struct {
	ops                   int
	buf                   []crdt.Op
	origin, key, idOrigin string
}

// internUTF8 sets *dst to s's bytes as a string, reusing last when they
// are equal; it reports false (the generated codec decides) for bytes that
// are not UTF-8, as a proto3 string must be.
func internUTF8(last *string, s []byte, dst *string) bool {
	if !utf8.Valid(s) {
		return false
	}
	if string(s) != *last {
		*last = string(s)
	}
	*dst = *last
	return true
}

// The wire types and the fields that may come once, by message.
const (
	opVarints   = 1<<fieldOpSeq | 1<<fieldOpHLC | 1<<fieldOpKind | 1<<fieldOpDelta
	opOnce      = (1<<(fieldOpRef+1) - 2) &^ (1 << fieldOpTags) // every field but tags
	idVarints   = 1 << fieldIDSeq
	idOnce      = 1<<fieldIDSeq | 1<<fieldIDOrigin
	headVarints = 1 << fieldHeadSeq
	headOnce    = 1<<(fieldHeadSig+1) - 2 // every field
)

func (d *pushDecoder) op(op *crdt.Op, b []byte) bool {
	return eachField(b, opVarints, opOnce, func(num protowire.Number, v uint64, p []byte) bool {
		switch num {
		case fieldOpSeq:
			op.Seq = v
		case fieldOpHLC:
			op.HLC = v
		case fieldOpKind:
			if v > 255 {
				return false
			}
			op.Kind = crdt.Kind(v)
		case fieldOpDelta:
			op.Delta = v
		case fieldOpOrigin:
			return internUTF8(&d.origin, p, &op.Origin)
		case fieldOpKey:
			return internUTF8(&d.key, p, &op.Key)
		case fieldOpField:
			op.Field = bytesOrNil(p)
		case fieldOpValue:
			op.Value = bytesOrNil(p)
		case fieldOpTags:
			id, ok := d.id(p)
			if !ok {
				return false
			}
			op.Tags = append(op.Tags, id)
		case fieldOpRef:
			id, ok := d.id(p)
			if !ok {
				return false
			}
			op.Ref = id
		default:
			return false
		}
		return true
	})
}

// id decodes an OpId that names an op: a seq and a valid origin.
func (d *pushDecoder) id(b []byte) (crdt.OpID, bool) {
	var id crdt.OpID
	ok := eachField(b, idVarints, idOnce, func(num protowire.Number, v uint64, p []byte) bool {
		switch num {
		case fieldIDSeq:
			id.Seq = v
		case fieldIDOrigin:
			return internUTF8(&d.idOrigin, p, &id.Origin)
		default:
			return false
		}
		return true
	})
	return id, ok && id.Seq != 0 && validID(id.Origin)
}

func decodeHead(b []byte) (*opauth.Head, bool) {
	h := &opauth.Head{}
	chain := false
	ok := eachField(b, headVarints, headOnce, func(num protowire.Number, v uint64, p []byte) bool {
		switch num {
		case fieldHeadSeq:
			h.Seq = v
		case fieldHeadOrigin:
			var last string // heads are few: nothing to reuse
			return internUTF8(&last, p, &h.Origin)
		case fieldHeadChain:
			if len(p) != len(h.Chain) {
				return false
			}
			copy(h.Chain[:], p)
			chain = true
		case fieldHeadSig:
			h.Sig = bytesOrNil(p)
		default:
			return false
		}
		return true
	})
	if !ok || !chain || !validID(h.Origin) || h.Valid() != nil {
		return nil, false
	}
	return h, true
}

func validID(s string) bool { return abi.ValidNodeID(s) }

// bytesOrNil copies v (the frame's buffer is not kept by its ops).
func bytesOrNil(v []byte) []byte {
	if len(v) == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}
