package abi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// The list encodings of docs/host-abi.md. Every integer is a little-endian u32.
// Encoders append to a caller's buffer so the host can size an answer before it
// writes into guest memory; decoders never trust a length they have not checked
// against the bytes that remain.

// ErrMalformed is returned by every decoder for input that is not exactly one
// well-formed encoding.
var ErrMalformed = errors.New("abi: malformed list encoding")

// AppendU32 appends v as a little-endian u32.
func AppendU32(b []byte, v uint32) []byte {
	return binary.LittleEndian.AppendUint32(b, v)
}

// AppendBytes appends a u32 length then p.
func AppendBytes(b, p []byte) []byte {
	return append(AppendU32(b, uint32(len(p))), p...)
}

// Row is one key/value pair of a scan, a map entry or an RGA element.
type Row struct {
	Key, Value []byte
}

// RowsSize is the encoded size of EncodeRows(rows) (scan layout).
func RowsSize(rows []Row) int {
	n := 4
	for _, r := range rows {
		n += 8 + len(r.Key) + len(r.Value)
	}
	return n
}

// AppendRows appends the db_scan layout: count, then per row key_len,
// value_len, key, value.
func AppendRows(b []byte, rows []Row) []byte {
	b = AppendU32(b, uint32(len(rows)))
	for _, r := range rows {
		b = AppendU32(b, uint32(len(r.Key)))
		b = AppendU32(b, uint32(len(r.Value)))
		b = append(b, r.Key...)
		b = append(b, r.Value...)
	}
	return b
}

// ListSize is the encoded size of AppendList(items).
func ListSize(items [][]byte) int {
	n := 4
	for _, it := range items {
		n += 4 + len(it)
	}
	return n
}

// AppendList appends the db_keys / orset / rga_values layout: count, then per
// item len, bytes.
func AppendList(b []byte, items [][]byte) []byte {
	b = AppendU32(b, uint32(len(items)))
	for _, it := range items {
		b = AppendBytes(b, it)
	}
	return b
}

// AppendPairs appends the lww_map_entries / rga_elements layout: count, then
// per item key_len, key, value_len, value.
func AppendPairs(b []byte, pairs []Row) []byte {
	b = AppendU32(b, uint32(len(pairs)))
	for _, p := range pairs {
		b = AppendBytes(b, p.Key)
		b = AppendBytes(b, p.Value)
	}
	return b
}

// Peer is one net_peers entry.
type Peer struct {
	Addr, NodeID string
}

// AppendPeers appends the net_peers layout: count, then per peer addr_len,
// node_id_len, addr, node_id.
func AppendPeers(b []byte, peers []Peer) []byte {
	b = AppendU32(b, uint32(len(peers)))
	for _, p := range peers {
		b = AppendU32(b, uint32(len(p.Addr)))
		b = AppendU32(b, uint32(len(p.NodeID)))
		b = append(b, p.Addr...)
		b = append(b, p.NodeID...)
	}
	return b
}

// reader walks an encoding and fails on any length that overruns the input.
type reader struct {
	b   []byte
	err error
}

func (r *reader) u32() uint32 {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 4 {
		r.err = fmt.Errorf("%w: truncated length", ErrMalformed)
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) bytes(n uint32) []byte {
	if r.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: length %d overruns %d remaining bytes", ErrMalformed, n, len(r.b))
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

// count reads an item count and rejects one that cannot fit: each item needs
// at least min bytes, so a hostile count never drives an allocation.
func (r *reader) count(min int) int {
	n := r.u32()
	if r.err != nil {
		return 0
	}
	if uint64(n)*uint64(min) > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: count %d cannot fit in %d bytes", ErrMalformed, n, len(r.b))
		return 0
	}
	return int(n)
}

func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(r.b))
	}
	return r.err
}

// DecodeRows decodes the db_scan layout. Returned slices alias b.
func DecodeRows(b []byte) ([]Row, error) {
	r := reader{b: b}
	n := r.count(8)
	rows := make([]Row, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		kl, vl := r.u32(), r.u32()
		k := r.bytes(kl)
		v := r.bytes(vl)
		rows = append(rows, Row{Key: k, Value: v})
	}
	if err := r.done(); err != nil {
		return nil, err
	}
	return rows, nil
}

// DecodeList decodes the db_keys / orset / rga_values layout.
func DecodeList(b []byte) ([][]byte, error) {
	r := reader{b: b}
	n := r.count(4)
	items := make([][]byte, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		items = append(items, r.bytes(r.u32()))
	}
	if err := r.done(); err != nil {
		return nil, err
	}
	return items, nil
}

// DecodePairs decodes the lww_map_entries / rga_elements layout.
func DecodePairs(b []byte) ([]Row, error) {
	r := reader{b: b}
	rows := r.pairs()
	if err := r.done(); err != nil {
		return nil, err
	}
	return rows, nil
}

// DecodePeers decodes the net_peers layout.
func DecodePeers(b []byte) ([]Peer, error) {
	r := reader{b: b}
	n := r.count(8)
	peers := make([]Peer, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		al, nl := r.u32(), r.u32()
		a := r.bytes(al)
		id := r.bytes(nl)
		peers = append(peers, Peer{Addr: string(a), NodeID: string(id)})
	}
	if err := r.done(); err != nil {
		return nil, err
	}
	return peers, nil
}

// NodeIDLen is the length of a NodeId: 32 lowercase hex characters.
const NodeIDLen = 32

// ValidNodeID reports whether s is 32 lowercase hex characters.
func ValidNodeID[T string | []byte](s T) bool {
	if len(s) != NodeIDLen {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// ParseOpID parses the text form of an OpId, "<seq>@<origin>": seq a decimal
// without sign or leading zeros, at least 1; origin a NodeId.
func ParseOpID(s []byte) (seq uint64, origin string, err error) {
	at := -1
	for i, c := range s {
		if c == '@' {
			at = i
			break
		}
	}
	if at <= 0 {
		return 0, "", fmt.Errorf("op id %q: want <seq>@<origin>", s)
	}
	digits := s[:at]
	if digits[0] == '0' {
		return 0, "", fmt.Errorf("op id %q: seq must be a positive decimal without leading zeros", s)
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, "", fmt.Errorf("op id %q: seq must be decimal", s)
		}
	}
	seq, perr := strconv.ParseUint(string(digits), 10, 64)
	if perr != nil {
		return 0, "", fmt.Errorf("op id %q: seq out of range", s)
	}
	if !ValidNodeID(s[at+1:]) {
		return 0, "", fmt.Errorf("op id %q: origin must be %d lowercase hex characters", s, NodeIDLen)
	}
	return seq, string(s[at+1:]), nil
}

// FormatOpID returns the text form of an OpId.
func FormatOpID(seq uint64, origin string) string {
	return strconv.FormatUint(seq, 10) + "@" + origin
}
