package replica

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/store"
)

// Datastore layouts. Meta "crdt_format" says which one a datastore holds
// (absent: 1 if the CRDT space has anything, else a new datastore):
//
//	1: each CRDT object whole under [type][key]
//	2: objects per element (objects.go); the op log in Pebble's OpLog key
//	   space, and an origin's vector entry a floor under its last entry
//	3: the op log in the store's segment files (store.Batch.Log), the
//	   vector entry written with every batch that moves it
//	4: large RGAs and Texts may have a view in the View space (views.go),
//	   which a build that does not know views would leave stale; a 3 has
//	   none and needs nothing but the marker
//
// A datastore of 1 or 2 is migrated on first open, in one atomic batch:
// a crash during it leaves the old format, migrated again at the next
// start (the log entries it appended again replace the first ones).

// CRDTFormat is the layout this build writes.
const CRDTFormat = 4

var metaCRDTFormat = []byte("crdt_format")

// FormatError reports a datastore whose CRDT layout this build cannot read.
type FormatError struct{ Found uint64 }

func (e *FormatError) Error() string {
	return fmt.Sprintf("the datastore's CRDT format is %d, newer than this build's %d: run it with a newer nx", e.Found, CRDTFormat)
}

// checkFormat reads the datastore's layout and migrates an older one to
// this build's; migrated counts the objects and log entries moved.
func checkFormat(st *store.Store) (migrated int, err error) {
	f, err := readFormat(st)
	if err != nil || f == CRDTFormat {
		return 0, err
	}
	b := st.NewBatch()
	if f == 0 {
		n, err := migrateObjects(st, b)
		if err != nil {
			b.Discard()
			return 0, err
		}
		migrated += n
	}
	if f < 3 {
		n, err := migrateOpLog(st, b)
		if err != nil {
			b.Discard()
			return 0, err
		}
		migrated += n
	}
	b.Set(store.Meta, metaCRDTFormat, uvarint(CRDTFormat))
	if _, err := st.Commit(b); err != nil {
		return 0, err
	}
	return migrated, st.Sync()
}

// migrateObjects adds to b the per-element records of every format-1
// object, in place of its whole record.
func migrateObjects(st *store.Store, b *store.Batch) (int, error) {
	rows, err := st.Scan(store.CRDT, store.ScanOptions{})
	if err != nil {
		return 0, err
	}
	for _, row := range rows {
		if len(row.Key) < 1 {
			return 0, &CorruptError{What: "CRDT (format 1)", Key: row.Key, Err: errors.New("empty key")}
		}
		k := crdt.ObjKey{Type: crdt.Type(row.Key[0]), Key: string(row.Key[1:])}
		obj, err := crdt.Decode(k.Type, row.Value)
		if err != nil {
			return 0, &CorruptError{What: fmt.Sprintf("CRDT %s %q (format 1)", k.Type, k.Key), Key: row.Key, Err: err}
		}
		b.Delete(store.CRDT, row.Key)
		putRecords(b, k, crdt.Records(obj))
	}
	return len(rows), nil
}

// migrateOpLog adds to b the move of the OpLog key space into the
// store's log, and for each origin the vector entry its last log entry
// stood for (format 2's vector entry was a floor under it).
func migrateOpLog(st *store.Store, b *store.Batch) (int, error) {
	rows, err := st.Scan(store.OpLog, store.ScanOptions{})
	if err != nil {
		return 0, err
	}
	vv, err := st.Scan(store.Vector, store.ScanOptions{Prefix: []byte{'a'}})
	if err != nil {
		return 0, err
	}
	applied := map[string]uint64{}
	for _, row := range vv {
		v, n := binary.Uvarint(row.Value)
		if n <= 0 || n != len(row.Value) {
			return 0, &CorruptError{What: "version vector", Key: row.Key, Err: errors.New("malformed entry")}
		}
		applied[string(row.Key[1:])] = v
	}
	last := map[string]uint64{}
	for _, row := range rows {
		origin, seq, ok := parseLogKey(row.Key)
		if !ok {
			return 0, &CorruptError{What: "op log (format 2)", Key: row.Key, Err: errors.New("malformed key")}
		}
		b.Log(origin, seq, row.Value)
		last[origin] = seq
	}
	for o, seq := range last {
		if seq > applied[o] {
			b.Set(store.Vector, vvKey(o), uvarint(seq))
		}
	}
	if len(rows) > 0 {
		b.DeleteRange(store.OpLog, nil, []byte{0xff})
	}
	return len(rows), nil
}

// readableFormat refuses, for a read-only reader, a datastore not in this
// build's layout.
func readableFormat(st *store.Store) error {
	f, err := readFormat(st)
	if err != nil || f == CRDTFormat {
		return err
	}
	if f == 0 {
		rows, err := st.Scan(store.CRDT, store.ScanOptions{Limit: 1, KeysOnly: true})
		if err != nil || len(rows) == 0 {
			return err
		}
	}
	return fmt.Errorf("the datastore is in format %d (this build reads %d): nx run (any module) migrates it, then inspect again", max(f, 1), CRDTFormat)
}

// readFormat reads the CRDT format marker: 0 if there is none (format 1,
// or a datastore never written), a FormatError if it is newer than this
// build's.
func readFormat(st *store.Store) (uint64, error) {
	v, err := st.Get(store.Meta, metaCRDTFormat)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	}
	f, n := binary.Uvarint(v)
	if n <= 0 || n != len(v) {
		return 0, &CorruptError{What: "CRDT format marker", Key: metaCRDTFormat, Err: errors.New("bad varint")}
	}
	if f > CRDTFormat {
		return 0, &FormatError{Found: f}
	}
	if f == 1 {
		return 0, nil // format 1 had no marker; read one as none
	}
	return f, nil
}
