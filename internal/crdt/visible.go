package crdt

import (
	"fmt"
	"unicode/utf8"
)

// What a sequence's stored view (internal/seqview) is built from and
// writes through: the visible content of a Text or an RGA in order, and
// the records of the local edits a view can make without the whole
// object in memory.

// EachPiece calls f with the visible characters in order, a piece at a
// time: characters [off, off+len(text)) of run, until f returns false.
func (t *Text) EachPiece(f func(run OpID, off uint64, text []rune) bool) {
	t.tree.walk(func(p *piece) bool {
		if deleted(p) {
			return true
		}
		return f(p.val.run.id, uint64(p.val.off), p.val.run.text[p.val.off:p.val.off+p.val.n])
	})
}

// EachVisible calls f with the visible elements in order, until f returns
// false.
func (r *RGA) EachVisible(f func(id OpID, value []byte) bool) {
	r.tree.walk(func(n *seqNode[*RGAElem]) bool {
		if n.vis == 0 {
			return true
		}
		return f(n.val.ID, n.val.Value)
	})
}

// InsertRecord returns the record of a new RGA element or Text run made by
// op, a TextInsert or an RGAInsert with its id and timestamp set: what
// OpRecords gives after op is applied to the object, for an id no delete
// has named yet (a local op's). ok is false for any other op.
func InsertRecord(op *Op) (rec Record, ok bool) {
	switch op.Kind {
	case TextInsert:
		rec, _ := textRunRecord(nil, op.ID(), op.HLC, CharID{Run: op.Ref, Off: op.Delta}, op.Value, nil, nil)
		return rec, true
	case RGAInsert:
		el := RGAElem{Inserted: true, Parent: op.Ref, HLC: op.HLC, Value: op.Value}
		return Record{Sub: appendIDKey(nil, op.ID()), Value: elemValue(&el)}, true
	}
	return Record{}, false
}

// RGAElemSub returns the sub-key of RGA element id's record.
func RGAElemSub(id OpID) []byte { return appendIDKey(nil, id) }

// TextRunSub returns the sub-key of run id's record.
func TextRunSub(id OpID) []byte { return appendIDKey([]byte{textRunRec}, id) }

// AddTextDeletes returns a Text run's record (sub-key TextRunSub(run),
// value as stored) with the ranges of rs that name that run added to its
// deleted spans: what OpRecords gives after a delete of rs is applied.
// A range past the run's text, or a malformed record, is an error.
func AddTextDeletes(run OpID, value []byte, rs []TextRange) (Record, error) {
	d := &dec{b: value, in: interner{}}
	if v := d.byte1(); d.err == nil && v != FormatVersion {
		return Record{}, &VersionError{Version: v}
	}
	hlc, parent, text := d.textRun(run)
	spans := d.deletedSpans(run, nil, d.count(2))
	if err := d.done(); err != nil {
		return Record{}, fmt.Errorf("run %s: %w", run, err)
	}
	n := uint64(utf8.RuneCountInString(text))
	for _, r := range rs {
		if r.Run != run {
			continue
		}
		if r.N == 0 || r.Off+r.N > n || r.Off+r.N < r.Off {
			return Record{}, fmt.Errorf("%w: run %s: delete of [%d, %d) past its %d characters", ErrCorrupt, run, r.Off, r.Off+r.N, n)
		}
		spans = addSpan(spans, span{r.Off, r.Off + r.N})
	}
	rec, _ := textRunRecord(nil, run, hlc, parent, []byte(text), nil, spans)
	return rec, nil
}

// RGADeletedRecord returns an RGA element's record value (as stored, the
// element inserted) with the element marked deleted: what OpRecords gives
// after a delete of it is applied.
func RGADeletedRecord(value []byte) ([]byte, error) {
	d := &dec{b: value}
	if v := d.byte1(); d.err == nil && v != FormatVersion {
		return nil, &VersionError{Version: v}
	}
	e := d.rgaElem(OpID{})
	if err := d.done(); err != nil {
		return nil, err
	}
	if !e.Inserted {
		return nil, fmt.Errorf("%w: a delete through a view of an element not inserted", ErrCorrupt)
	}
	e.Deleted = true
	return elemValue(e), nil
}
