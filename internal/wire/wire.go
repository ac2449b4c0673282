// Package wire is the Numax wire protocol of docs/wire-protocol.md: frames of a 4-byte
// big-endian length and a format tag, carrying one protobuf Frame message in
// binary (default) or JSON (--debug-protocol) form, and the conversion
// between wire messages and the replica's.
//
// Decoders never trust a length they have not checked against the limit and
// refuse anything that does not decode to exactly one well-formed message. The
// package does no I/O beyond the reader and writer it is given.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/numax/numax/internal/abi"
	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/defaults"
	"github.com/numax/numax/internal/opauth"
	"github.com/numax/numax/internal/wire/wirepb"
)

// ProtocolVersion is this build's protocol version; a Hello with another is
// refused with ProtocolMismatch.
const ProtocolVersion = 3

// Format tags.
const (
	TagJSON   byte = 0x01
	TagBinary byte = 0x02
)

// DefaultMaxMessageSize is the default frame size limit (16 MiB).
const DefaultMaxMessageSize = defaults.MaxMessageSize

var (
	// ErrFrameTooLarge is a frame whose length is over the limit.
	ErrFrameTooLarge = errors.New("wire: frame larger than max_message_size")
	// ErrUnknownTag is a frame whose format tag is neither JSON nor binary.
	ErrUnknownTag = errors.New("wire: unknown format tag")
	// ErrMalformed is a payload that does not decode to exactly one message.
	ErrMalformed = errors.New("wire: malformed message")
)

// ReadFrame reads one frame and returns its tag and payload. The length is
// checked against max before anything is allocated, and the buffer grows
// with the bytes received, never to the declared length at once.
func ReadFrame(r io.Reader, max int) (byte, []byte, error) {
	tag, payload, _, err := ReadFrameReuse(r, max, nil)
	return tag, payload, err
}

// keepBuffer is the largest frame buffer ReadFrameReuse hands back for the
// next frame: a link's occasional large frame (a snapshot) is not held.
const keepBuffer = 256 << 10

// ReadFrameReuse is ReadFrame reading into buf when the frame fits in it.
// It returns the buffer to pass next time; the payload is valid until then.
func ReadFrameReuse(r io.Reader, max int, buf []byte) (tag byte, payload, next []byte, err error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, buf, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 {
		return 0, nil, buf, fmt.Errorf("%w: empty frame", ErrMalformed)
	}
	if uint64(n) > uint64(max) {
		return 0, nil, buf, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, max)
	}
	var frame []byte
	if int(n) <= cap(buf) {
		frame = buf[:n]
		if _, err := io.ReadFull(r, frame); err != nil {
			return 0, nil, buf, err
		}
	} else {
		if frame, err = readGrowing(r, int(n)); err != nil {
			return 0, nil, buf, err
		}
		if cap(frame) <= keepBuffer {
			buf = frame
		}
	}
	tag = frame[0]
	if tag != TagJSON && tag != TagBinary {
		return 0, nil, buf, fmt.Errorf("%w 0x%02x", ErrUnknownTag, tag)
	}
	return tag, frame[1:], buf, nil
}

// firstChunk is what ReadFrame allocates before any payload byte arrives.
const firstChunk = 64 << 10

// readGrowing reads n bytes into a buffer that grows with the bytes that
// actually arrive (doubling from firstChunk), never to a declared length up
// front: a peer that declares 16 MiB and stalls costs 64 KiB, not 16 MiB.
func readGrowing(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, 0, min(n, firstChunk))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			nb := make([]byte, len(buf), min(n, 2*cap(buf)))
			copy(nb, buf)
			buf = nb
		}
		m, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// AppendFrame appends a frame holding payload with tag.
func AppendFrame(b []byte, tag byte, payload []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)+1))
	b = append(b, tag)
	return append(b, payload...)
}

// Marshal encodes f as a frame payload with tag.
func Marshal(f *wirepb.Frame, tag byte) ([]byte, error) {
	if tag == TagJSON {
		return protojson.Marshal(f)
	}
	return proto.Marshal(f)
}

// EncodeFrame returns a whole frame (length, tag, payload) for f.
func EncodeFrame(f *wirepb.Frame, tag byte) ([]byte, error) {
	p, err := Marshal(f, tag)
	if err != nil {
		return nil, err
	}
	return AppendFrame(make([]byte, 0, len(p)+5), tag, p), nil
}

// Unmarshal decodes a frame payload; exactly one message must be set and
// nothing may be left unknown.
func Unmarshal(tag byte, payload []byte) (*wirepb.Frame, error) {
	f := &wirepb.Frame{}
	var err error
	switch tag {
	case TagJSON:
		err = protojson.Unmarshal(payload, f)
	case TagBinary:
		err = proto.Unmarshal(payload, f)
	default:
		return nil, fmt.Errorf("%w 0x%02x", ErrUnknownTag, tag)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if f.Msg == nil {
		return nil, fmt.Errorf("%w: frame carries no message", ErrMalformed)
	}
	if len(f.ProtoReflect().GetUnknown()) > 0 {
		return nil, fmt.Errorf("%w: unknown fields", ErrMalformed)
	}
	return f, nil
}

// OpToProto converts an op for the wire.
func OpToProto(op *crdt.Op) *wirepb.Op {
	p := &wirepb.Op{Origin: op.Origin, Seq: op.Seq, Hlc: op.HLC, Kind: uint32(op.Kind), Key: op.Key,
		Delta: op.Delta, Field: op.Field, Value: op.Value}
	for _, t := range op.Tags {
		p.Tags = append(p.Tags, &wirepb.OpId{Seq: t.Seq, Origin: t.Origin})
	}
	if !op.Ref.IsZero() {
		p.Ref = &wirepb.OpId{Seq: op.Ref.Seq, Origin: op.Ref.Origin}
	}
	return p
}

// OpFromProto converts and validates a wire op.
func OpFromProto(p *wirepb.Op) (*crdt.Op, error) {
	if p == nil || p.Kind > 255 {
		return nil, fmt.Errorf("%w: bad op", ErrMalformed)
	}
	op := &crdt.Op{Origin: p.Origin, Seq: p.Seq, HLC: p.Hlc, Kind: crdt.Kind(p.Kind), Key: p.Key,
		Delta: p.Delta, Field: p.Field, Value: p.Value}
	for _, t := range p.Tags {
		if t == nil || t.Seq == 0 || !abi.ValidNodeID(t.Origin) {
			return nil, fmt.Errorf("%w: bad tag", ErrMalformed)
		}
		op.Tags = append(op.Tags, crdt.OpID{Seq: t.Seq, Origin: t.Origin})
	}
	if p.Ref != nil {
		if p.Ref.Seq == 0 || !abi.ValidNodeID(p.Ref.Origin) {
			return nil, fmt.Errorf("%w: bad reference", ErrMalformed)
		}
		op.Ref = crdt.OpID{Seq: p.Ref.Seq, Origin: p.Ref.Origin}
	}
	if err := op.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return op, nil
}

// ValidVV checks a version vector's keys.
func ValidVV(vv map[string]uint64) error {
	for o := range vv {
		if !abi.ValidNodeID(o) {
			return fmt.Errorf("%w: version vector names %q", ErrMalformed, o)
		}
	}
	return nil
}

// ToMessage converts a replication frame (PushOps, Ack, PullSince,
// Snapshot) into a replica message, validating every field. ok is false for
// frames that are not replication messages.
func ToMessage(f *wirepb.Frame) (m *Message, ok bool, err error) {
	switch x := f.Msg.(type) {
	case *wirepb.Frame_PushOps:
		m = &Message{Kind: PushOps}
		for _, p := range x.PushOps.GetOps() {
			op, err := OpFromProto(p)
			if err != nil {
				return nil, true, err
			}
			m.Ops = append(m.Ops, op)
		}
		if m.Heads, err = headsFromProto(x.PushOps.GetHeads()); err != nil {
			return nil, true, err
		}
		m.Certs = x.PushOps.GetCerts()
		m.Answer = x.PushOps.GetAnswer()
	case *wirepb.Frame_Ack:
		a := x.Ack
		m = &Message{Kind: Ack, VV: a.GetVv(), Links: a.GetLinks(), Have: a.GetHave(), Prune: a.GetPrune(), Graft: a.GetGraft()}
		for _, ids := range []struct {
			field string
			ids   []string
		}{{"links", m.Links}, {"prune", m.Prune}, {"graft", m.Graft}} {
			for _, id := range ids.ids {
				if !abi.ValidNodeID(id) {
					return nil, true, fmt.Errorf("%w: ack %s name %q", ErrMalformed, ids.field, id)
				}
			}
		}
		if err := ValidVV(m.Have); err != nil {
			return nil, true, err
		}
	case *wirepb.Frame_PullSince:
		m = &Message{Kind: PullSince, VV: x.PullSince.GetVv()}
	case *wirepb.Frame_Snapshot:
		m = &Message{Kind: Snapshot, VV: x.Snapshot.GetVv(), Objects: map[crdt.ObjKey][]byte{}}
		for _, o := range x.Snapshot.GetObjects() {
			k := crdt.ObjKey{Type: crdt.Type(o.GetType()), Key: o.GetKey()}
			if o.GetType() == 0 || o.GetType() > 255 || crdt.New(k.Type) == nil {
				return nil, true, fmt.Errorf("%w: snapshot object of unknown type %d", ErrMalformed, o.GetType())
			}
			if _, dup := m.Objects[k]; dup {
				return nil, true, fmt.Errorf("%w: snapshot object %s %q twice", ErrMalformed, k.Type, k.Key)
			}
			m.Objects[k] = o.GetState()
		}
		if m.Heads, err = headsFromProto(x.Snapshot.GetHeads()); err != nil {
			return nil, true, err
		}
		m.Certs = x.Snapshot.GetCerts()
	default:
		return nil, false, nil
	}
	if m.VV == nil {
		m.VV = map[string]uint64{}
	}
	if err := ValidVV(m.VV); err != nil {
		return nil, true, err
	}
	return m, true, nil
}

// FromMessage converts a replica message into a frame.
func FromMessage(m *Message) *wirepb.Frame {
	switch m.Kind {
	case PushOps:
		p := &wirepb.PushOps{Ops: make([]*wirepb.Op, len(m.Ops)), Heads: headsToProto(m.Heads), Certs: m.Certs, Answer: m.Answer}
		for i, op := range m.Ops {
			p.Ops[i] = OpToProto(op)
		}
		return &wirepb.Frame{Msg: &wirepb.Frame_PushOps{PushOps: p}}
	case Ack:
		return &wirepb.Frame{Msg: &wirepb.Frame_Ack{Ack: &wirepb.Ack{Vv: m.VV, Links: m.Links, Have: m.Have, Prune: m.Prune, Graft: m.Graft}}}
	case PullSince:
		return &wirepb.Frame{Msg: &wirepb.Frame_PullSince{PullSince: &wirepb.PullSince{Vv: m.VV}}}
	case Snapshot:
		s := &wirepb.Snapshot{Vv: m.VV, Heads: headsToProto(m.Heads), Certs: m.Certs}
		for k, st := range m.Objects {
			s.Objects = append(s.Objects, &wirepb.SnapshotObject{Type: uint32(k.Type), Key: k.Key, State: st})
		}
		return &wirepb.Frame{Msg: &wirepb.Frame_Snapshot{Snapshot: s}}
	}
	return nil
}

func headsToProto(hs []*opauth.Head) []*wirepb.Head {
	if len(hs) == 0 {
		return nil
	}
	out := make([]*wirepb.Head, len(hs))
	for i, h := range hs {
		out[i] = &wirepb.Head{Origin: h.Origin, Seq: h.Seq, Chain: h.Chain[:], Sig: h.Sig}
	}
	return out
}

// headsFromProto converts and checks heads: a valid origin, a seq, a
// 32-byte chain value and a signature of a bounded size.
func headsFromProto(ps []*wirepb.Head) ([]*opauth.Head, error) {
	var out []*opauth.Head
	for _, p := range ps {
		if p == nil || !abi.ValidNodeID(p.Origin) || len(p.Chain) != len(opauth.Hash{}) {
			return nil, fmt.Errorf("%w: bad head", ErrMalformed)
		}
		h := &opauth.Head{Origin: p.Origin, Seq: p.Seq, Sig: p.Sig}
		copy(h.Chain[:], p.Chain)
		if err := h.Valid(); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		out = append(out, h)
	}
	return out, nil
}
