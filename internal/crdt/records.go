package crdt

import (
	"encoding/binary"
	"fmt"
	"slices"
	"unicode/utf8"
)

// Per-element records (docs/crdt.md, "Objects of any size"): an object is
// stored as records under its key, one per element (an LWW-Map field, an
// ORSet element with its tags, an RGA element, a Text run or a run's
// deleted spans); counters and registers are one record. An op changes a
// bounded number of records (OpRecords), so a write never re-encodes its
// whole object; Records and FromRecords write and read all of them.
//
// Record values start with FormatVersion like every other encoding.

// Record is one stored piece of an object: its sub-key under the object's
// key (empty for the single record of a counter or register) and value. A
// nil Value (from OpRecords) means the record is to be deleted.
type Record struct {
	Sub, Value []byte
}

// Sub-key prefixes of a Text's records.
const (
	textRunRec     = 'r' // 'r' + run id: the run and its deleted spans
	textDeletedRec = 'd' // 'd' + run id: deleted spans of a run not here yet
)

// appendIDKey encodes an id as a record sub-key: origin, then seq
// big-endian, so an origin's elements sit together and the store's
// prefix compression keeps only the seq of each key.
func appendIDKey(b []byte, id OpID) []byte {
	return binary.BigEndian.AppendUint64(append(b, id.Origin...), id.Seq)
}

func parseIDKey(b []byte, in interner) (OpID, error) {
	if len(b) < 9 {
		return OpID{}, fmt.Errorf("%w: short element id", ErrCorrupt)
	}
	n := len(b) - 8
	id := OpID{Seq: binary.BigEndian.Uint64(b[n:]), Origin: in.str(b[:n])}
	if id.Seq == 0 {
		return OpID{}, fmt.Errorf("%w: element id with seq 0", ErrCorrupt)
	}
	return id, nil
}

func whole(obj Object) []Record { return []Record{{Value: obj.AppendBinary(nil)}} }

// WholeRecord reports whether objects of type t are stored as one record
// (counters and registers): their OpRecords is the whole object.
func WholeRecord(t Type) bool {
	return t == TypeGCounter || t == TypePNCounter || t == TypeLWWRegister
}

// OpRecords returns the records of obj that applying op changed (obj is the
// object after op applied). A Text answers in its own arrays (the records
// and their bytes), valid until its next OpRecords: the caller copies what
// it keeps, as a store batch does.
func OpRecords(obj Object, op *Op) []Record {
	switch o := obj.(type) {
	case *LWWMap:
		f := string(op.Field)
		return []Record{mapRecord(f, o.Fields[f])}
	case *ORSet:
		return []Record{o.elemRecord(string(op.Field))}
	case *RGA:
		id := op.ID()
		if op.Kind == RGADelete {
			id = op.Ref
		}
		return []Record{o.elemRecord(id)}
	case *Text:
		// The Text's own arrays (records and their bytes), reused by its
		// next OpRecords: put copies the records at once.
		o.buf = o.buf[:0]
		if op.Kind == TextInsert {
			// The run's record, from the op itself (its text is already
			// UTF-8), with what deletes that came first left of it.
			id := op.ID()
			var dels []span
			if run := o.run(id); run != nil {
				dels = run.dels()
			}
			var rec Record
			rec, o.buf = textRunRecord(o.buf, id, op.HLC, CharID{Run: op.Ref, Off: op.Delta}, op.Value, nil, dels)
			o.recs = append(o.recs[:0], rec)
			if len(dels) > 0 {
				o.recs = append(o.recs, Record{Sub: appendIDKey([]byte{textDeletedRec}, id)})
			}
			return o.recs
		}
		rs, _ := op.TextRanges()
		o.recs = o.recs[:0]
		if len(rs) <= 8 { // most deletes name a run or two: no map
			for i, r := range rs {
				if !slices.ContainsFunc(rs[:i], func(q TextRange) bool { return q.Run == r.Run }) {
					o.recs = append(o.recs, o.runOrDeletedRecord(r.Run))
				}
			}
			return o.recs
		}
		seen := make(map[OpID]bool, len(rs))
		for _, r := range rs {
			if !seen[r.Run] {
				seen[r.Run] = true
				o.recs = append(o.recs, o.runOrDeletedRecord(r.Run))
			}
		}
		return o.recs
	}
	return whole(obj)
}

// Records returns every record of obj.
func Records(obj Object) []Record {
	var out []Record
	switch o := obj.(type) {
	case *LWWMap:
		o.each(func(f string, e MapEntry) bool {
			out = append(out, mapRecord(f, e))
			return true
		})
	case *ORSet:
		o.each(func(e string, el *SetElem) bool {
			out = append(out, setRecord(e, el))
			return true
		})
	case *RGA:
		for id := range o.Elems {
			out = append(out, o.elemRecord(id))
		}
	case *Text:
		for run := range o.runs.all() {
			out = append(out, o.runRecord(run))
		}
		for id := range o.early {
			out = append(out, o.deletedRecord(id))
		}
	default:
		out = whole(obj)
	}
	return out
}

func mapRecord(f string, en MapEntry) Record {
	v := enc([]byte{FormatVersion}).uv(en.Stamp.HLC).str(en.Stamp.Writer).flag(en.Removed).bytes(en.Value)
	return Record{Sub: []byte(f), Value: v}
}

func decodeMapEntry(v []byte) (MapEntry, error) {
	d := &dec{b: v}
	if ver := d.byte1(); d.err == nil && ver != FormatVersion {
		return MapEntry{}, &VersionError{Version: ver}
	}
	e := d.mapEntry()
	return e, d.done()
}

func decodeSetElem(v []byte) (*SetElem, error) {
	d := &dec{b: v}
	if ver := d.byte1(); d.err == nil && ver != FormatVersion {
		return nil, &VersionError{Version: ver}
	}
	el := newSetElem()
	d.setElem(el)
	if err := d.done(); err != nil {
		return nil, err
	}
	return el, nil
}

func (s *ORSet) elemRecord(e string) Record { return setRecord(e, s.Elems[e]) }

func setRecord(e string, el *SetElem) Record {
	v := enc([]byte{FormatVersion})
	var adds, removes map[OpID]struct{}
	if el != nil {
		adds, removes = el.Adds, el.Removes
	}
	if len(adds) == 0 && len(removes) == 0 {
		return Record{Sub: []byte(e)} // nothing to keep
	}
	v = v.uv(uint64(len(adds)))
	for _, id := range sortedIDs(adds) {
		v = v.id(id)
	}
	v = v.uv(uint64(len(removes)))
	for _, id := range sortedIDs(removes) {
		v = v.id(id)
	}
	return Record{Sub: []byte(e), Value: v}
}

func (r *RGA) elemRecord(id OpID) Record {
	return Record{Sub: appendIDKey(nil, id), Value: elemValue(r.Elems[id])}
}

// elemValue encodes an RGA element's record value.
func elemValue(el *RGAElem) []byte {
	v := enc([]byte{FormatVersion}).flag(el.Inserted).flag(el.Deleted)
	if el.Inserted {
		v = v.id(el.Parent).uv(el.HLC).bytes(el.Value)
	}
	return v
}

// runOrDeletedRecord is the record that holds run id's deleted spans: the
// run's own, or, for a run not here yet, its 'd' record. Its bytes are in
// t.buf, valid until the Text's next OpRecords.
func (t *Text) runOrDeletedRecord(id OpID) Record {
	if run := t.run(id); run != nil {
		var rec Record
		rec, t.buf = textRunRecord(t.buf, run.id, run.hlc, run.parent, nil, run.text, run.dels())
		return rec
	}
	return t.deletedRecord(id)
}

// runRecord is run's record with its deleted spans.
func (t *Text) runRecord(run *textRun) Record {
	rec, _ := textRunRecord(nil, run.id, run.hlc, run.parent, nil, run.text, run.dels())
	return rec
}

// textRunRecord returns run id's record, its bytes appended to buf (one
// array for the sub-key, first, and the value), and buf after them. The
// run's text is text (UTF-8, an op's) or, if that is nil, runes (a Text's).
func textRunRecord(buf []byte, id OpID, hlc uint64, parent CharID, text []byte, runes []rune, deleted []span) (Record, []byte) {
	// Room for the sub-key and the longest value: version and flag, six
	// varints and the deleted spans' two each.
	buf = slices.Grow(buf, 1+len(id.Origin)+8+2+len(parent.Run.Origin)+len(text)+utf8.UTFMax*len(runes)+
		(6+2*len(deleted))*binary.MaxVarintLen64)
	start := len(buf)
	sub := appendIDKey(append(buf, textRunRec), id)
	v := enc(sub[len(sub):])
	v = append(v, FormatVersion)
	// The parent: its seq, then (unless it is the start) whether it is
	// this run's origin's — typing continues its own runs — or the origin.
	v = v.uv(hlc).uv(parent.Run.Seq)
	if parent.Run.Seq != 0 {
		own := parent.Run.Origin == id.Origin
		v = v.flag(own)
		if !own {
			v = v.str(parent.Run.Origin)
		}
	}
	v = v.uv(parent.Off)
	if text != nil {
		v = v.bytes(text)
	} else {
		n := 0
		for _, r := range runes {
			n += utf8.RuneLen(r)
		}
		v = v.uv(uint64(n))
		for _, r := range runes {
			v = utf8.AppendRune(v, r)
		}
	}
	v = v.uv(uint64(len(deleted)))
	for _, s := range deleted {
		v = v.uv(s.off).uv(s.end - s.off)
	}
	rec := Record{Sub: sub[start:len(sub):len(sub)], Value: v[:len(v):len(v)]}
	return rec, sub[:len(sub)+len(v)]
}

func (t *Text) deletedRecord(id OpID) Record {
	ss := t.early[id]
	v := enc([]byte{FormatVersion}).uv(uint64(len(ss)))
	for _, s := range ss {
		v = v.uv(s.off).uv(s.end - s.off)
	}
	return Record{Sub: appendIDKey([]byte{textDeletedRec}, id), Value: v}
}

// FromRecords rebuilds an object of type t from its records (in any
// order). Anything malformed is an error wrapping ErrCorrupt, or a
// *VersionError.
func FromRecords(t Type, recs []Record) (Object, error) {
	switch t {
	case TypeGCounter, TypePNCounter, TypeLWWRegister:
		if len(recs) != 1 || len(recs[0].Sub) != 0 {
			return nil, fmt.Errorf("%w: %s stored as %d records", ErrCorrupt, t, len(recs))
		}
		return Decode(t, recs[0].Value)
	}
	obj := New(t)
	if obj == nil {
		return nil, fmt.Errorf("%w: unknown type %d", ErrCorrupt, t)
	}
	var runs []*textRun
	in := interner{}
	for _, rec := range recs {
		d := &dec{b: rec.Value, in: in}
		if v := d.byte1(); d.err == nil && v != FormatVersion {
			return nil, &VersionError{Version: v}
		}
		switch o := obj.(type) {
		case *LWWMap:
			o.keep(string(rec.Sub), d.mapEntry())
		case *ORSet:
			el := newSetElem()
			d.setElem(el)
			if o.Elems == nil {
				o.Elems = map[string]*SetElem{}
			}
			o.Elems[string(rec.Sub)] = el
		case *RGA:
			id, err := parseIDKey(rec.Sub, in)
			if err != nil {
				return nil, err
			}
			e := d.rgaElem(id)
			o.init()
			o.Elems[id] = e
		case *Text:
			if len(rec.Sub) == 0 {
				return nil, fmt.Errorf("%w: text record without a kind", ErrCorrupt)
			}
			id, err := parseIDKey(rec.Sub[1:], in)
			if err != nil {
				return nil, err
			}
			switch rec.Sub[0] {
			case textRunRec:
				hlc, parent, s := d.textRun(id)
				runs = append(runs, &textRun{id: id, hlc: hlc, parent: parent, text: []rune(s)})
				fallthrough
			case textDeletedRec:
				k := d.count(2)
				if d.err == nil && rec.Sub[0] == textDeletedRec && k == 0 {
					d.fail("run %s: a deleted-spans record without spans", id)
				}
				if ss := d.deletedSpans(id, o.early[id], k); len(ss) > 0 {
					o.early[id] = ss
				}
			default:
				return nil, fmt.Errorf("%w: text record of kind %q", ErrCorrupt, rec.Sub[0])
			}
		}
		if err := d.done(); err != nil {
			return nil, fmt.Errorf("record %q: %w", rec.Sub, err)
		}
	}
	switch o := obj.(type) {
	case *RGA:
		o.linkAll()
	case *Text:
		o.placeRuns(runs)
	}
	return obj, nil
}

// rgaElem reads an RGA element record's fields after the version.
func (d *dec) rgaElem(id OpID) *RGAElem {
	e := &RGAElem{ID: id, Inserted: d.flag(), Deleted: d.flag()}
	if e.Inserted {
		e.Parent, e.HLC, e.Value = d.id(true), d.uv(), d.bytes()
	}
	if d.err == nil && !e.Inserted && !e.Deleted {
		d.fail("element %s neither inserted nor deleted", id)
	}
	return e
}

// textRun reads a Text run record's fields after the version: the run's
// timestamp, parent (its origin written only when it is not id's) and
// text (UTF-8, not empty).
func (d *dec) textRun(id OpID) (hlc uint64, parent CharID, text string) {
	hlc = d.uv()
	if parent.Run.Seq = d.uv(); parent.Run.Seq != 0 {
		if d.flag() {
			parent.Run.Origin = id.Origin
		} else {
			parent.Run.Origin = d.nodeID(false)
		}
	}
	parent.Off = d.uv()
	if d.err == nil && parent.Run.IsZero() && parent.Off != 0 {
		d.fail("run %s: offset without a parent", id)
	}
	text = d.str()
	if d.err == nil && (text == "" || !utf8.ValidString(text)) {
		d.fail("run %s: empty or not UTF-8", id)
	}
	return hlc, parent, text
}

// deletedSpans reads k deleted spans of run id into ss.
func (d *dec) deletedSpans(id OpID, ss []span, k int) []span {
	for j := 0; j < k && d.err == nil; j++ {
		off, n := d.uv(), d.uv()
		if d.err == nil && (n == 0 || off+n < off) {
			d.fail("run %s: bad deleted span", id)
			break
		}
		ss = addSpan(ss, span{off, off + n})
	}
	return ss
}

// MapRecordEntry decodes an LWW-Map field record.
func MapRecordEntry(v []byte) (MapEntry, error) { return decodeMapEntry(v) }

// MapRecordValue decodes an LWW-Map field record: its value, or removed.
func MapRecordValue(v []byte) (value []byte, removed bool, err error) {
	e, err := decodeMapEntry(v)
	return e.Value, e.Removed, err
}

// SetRecordRemoved decodes an ORSet element record: its removed tags.
func SetRecordRemoved(v []byte) ([]OpID, error) {
	el, err := decodeSetElem(v)
	if err != nil {
		return nil, err
	}
	tags := make([]OpID, 0, len(el.Removes))
	for t := range el.Removes {
		tags = append(tags, t)
	}
	return tags, nil
}

// SetRecordPresent decodes an ORSet element record: whether the element is
// present (an add tag no remove names).
func SetRecordPresent(v []byte) (bool, error) {
	el, err := decodeSetElem(v)
	if err != nil {
		return false, err
	}
	return len(el.live()) > 0, nil
}
