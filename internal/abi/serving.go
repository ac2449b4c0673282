package abi

// The encodings of docs/serving.md: HTTP requests and responses as guests
// read and write them, the on_change list and the on_peer event. Every
// integer is a little-endian u32 and every string is length-prefixed.

// Request is an HTTP request as http_request gives it and http_fetch takes
// it. Target is the path and query as sent (or an absolute URL for
// http_fetch). Header names are lower-case; repeated headers keep their
// order.
type Request struct {
	Method  string
	Target  string
	Headers []Row
	Body    []byte
}

// Response is an HTTP response as http_fetch writes it.
type Response struct {
	Status  uint32
	Headers []Row
	Body    []byte
}

// Change is one changed object of the on_change list.
type Change struct {
	Type byte // 1 GCounter ... 6 RGA, 7 Text
	Key  []byte
}

// PeerEvent is the on_peer event.
type PeerEvent struct {
	Up     bool
	NodeID string
	Addr   string
}

// AppendRequest appends the request encoding.
func AppendRequest(b []byte, r *Request) []byte {
	b = AppendBytes(b, []byte(r.Method))
	b = AppendBytes(b, []byte(r.Target))
	b = AppendPairs(b, r.Headers)
	return AppendBytes(b, r.Body)
}

// DecodeRequest decodes the request encoding. Returned slices alias b.
func DecodeRequest(b []byte) (*Request, error) {
	r := reader{b: b}
	req := &Request{}
	req.Method = string(r.bytes(r.u32()))
	req.Target = string(r.bytes(r.u32()))
	req.Headers = r.pairs()
	req.Body = r.bytes(r.u32())
	if err := r.done(); err != nil {
		return nil, err
	}
	return req, nil
}

// AppendResponse appends the response encoding.
func AppendResponse(b []byte, r *Response) []byte {
	b = AppendU32(b, r.Status)
	b = AppendPairs(b, r.Headers)
	return AppendBytes(b, r.Body)
}

// DecodeResponse decodes the response encoding. Returned slices alias b.
func DecodeResponse(b []byte) (*Response, error) {
	r := reader{b: b}
	resp := &Response{Status: r.u32()}
	resp.Headers = r.pairs()
	resp.Body = r.bytes(r.u32())
	if err := r.done(); err != nil {
		return nil, err
	}
	return resp, nil
}

// AppendChanges appends the on_change list.
func AppendChanges(b []byte, cs []Change) []byte {
	b = AppendU32(b, uint32(len(cs)))
	for _, c := range cs {
		b = append(b, c.Type)
		b = AppendBytes(b, c.Key)
	}
	return b
}

// DecodeChanges decodes the on_change list. Returned slices alias b.
func DecodeChanges(b []byte) ([]Change, error) {
	r := reader{b: b}
	n := r.count(5)
	cs := make([]Change, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		t := r.bytes(1)
		k := r.bytes(r.u32())
		if r.err == nil {
			cs = append(cs, Change{Type: t[0], Key: k})
		}
	}
	if err := r.done(); err != nil {
		return nil, err
	}
	return cs, nil
}

// AppendPeerEvent appends the on_peer event.
func AppendPeerEvent(b []byte, e PeerEvent) []byte {
	up := byte(0)
	if e.Up {
		up = 1
	}
	b = append(b, up)
	b = AppendBytes(b, []byte(e.NodeID))
	return AppendBytes(b, []byte(e.Addr))
}

// DecodePeerEvent decodes the on_peer event.
func DecodePeerEvent(b []byte) (PeerEvent, error) {
	r := reader{b: b}
	up := r.bytes(1)
	id := r.bytes(r.u32())
	addr := r.bytes(r.u32())
	if err := r.done(); err != nil {
		return PeerEvent{}, err
	}
	if up[0] > 1 {
		return PeerEvent{}, ErrMalformed
	}
	return PeerEvent{Up: up[0] == 1, NodeID: string(id), Addr: string(addr)}, nil
}

// pairs reads a pair list (the lww_map_entries layout), alone or inside a
// larger encoding.
func (r *reader) pairs() []Row {
	n := r.count(8)
	rows := make([]Row, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		k := r.bytes(r.u32())
		v := r.bytes(r.u32())
		rows = append(rows, Row{Key: k, Value: v})
	}
	return rows
}
