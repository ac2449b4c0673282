package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2/record"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Problem is one thing Check found wrong.
type Problem struct {
	// Offset, for a damaged log, is where its last good record ends.
	Offset int64
	// File is the damaged file, relative to the datastore.
	File string
	// What is wrong with it.
	What string
	// Keys says which keys it holds (tables) or what was lost (logs).
	Keys string
}

func (p Problem) String() string {
	s := p.File + ": " + p.What
	if p.Keys != "" {
		s += "; " + p.Keys
	}
	return s
}

// Check verifies the datastore of a stopped node offline, changing
// nothing: every block checksum of every table, and every write-ahead log
// for damage followed by valid records (acknowledged writes lost; a torn
// tail after a crash is normal). It returns what it found, in file order.
func Check(dir string) ([]Problem, error) {
	pdir := filepath.Join(dir, "pebble")
	if _, err := os.Stat(pdir); err != nil {
		return nil, fmt.Errorf("open datastore %s: no datastore there", dir)
	}
	var problems []Problem
	logs, err := filepath.Glob(filepath.Join(pdir, "*.log"))
	if err != nil {
		return nil, err
	}
	sort.Strings(logs)
	for _, l := range logs {
		if p, ok := CheckLog(l); !ok {
			problems = append(problems, p)
		}
	}
	segs, err := filepath.Glob(filepath.Join(dir, logDirName, "*"+logSuffix))
	if err != nil {
		return nil, err
	}
	sort.Strings(segs)
	for _, path := range segs {
		if p, ok := checkSegment(dir, path); !ok {
			problems = append(problems, p)
		}
	}
	// Which keys each table holds comes from the manifest, read through a
	// read-only open; a damaged log can make that open fail, and the
	// tables are then checked without their key ranges.
	ranges := map[string]string{}
	if s, err := Open(Config{Dir: dir, Sync: SyncAlways, ReadOnly: true}); err == nil {
		if levels, err := s.db.SSTables(); err == nil {
			for level, tables := range levels {
				for _, t := range tables {
					ranges[fmt.Sprintf("%s.sst", t.BackingSSTNum)] = fmt.Sprintf("level %d, holds keys %s to %s",
						level, describeKey(t.Smallest.UserKey), describeKey(t.Largest.UserKey))
				}
			}
		}
		s.Close()
	}
	tables, err := filepath.Glob(filepath.Join(pdir, "*.sst"))
	if err != nil {
		return nil, err
	}
	sort.Strings(tables)
	for _, path := range tables {
		name := filepath.Base(path)
		if err := checkTable(path); err != nil {
			keys := ranges[name]
			if keys == "" {
				keys = "key range unknown (the manifest could not be read)"
			}
			problems = append(problems, Problem{File: filepath.Join("pebble", name), What: "table: " + err.Error(), Keys: keys})
		}
	}
	return problems, nil
}

// checkTable reads every block of one table file and checks its checksum.
func checkTable(path string) (err error) {
	defer recoverFatal(&err)
	f, err := vfs.Default.Open(path)
	if err != nil {
		return err
	}
	readable, err := sstable.NewSimpleReadable(f)
	if err != nil {
		f.Close()
		return err
	}
	r, err := sstable.NewReader(context.Background(), readable, sstable.ReaderOptions{})
	if err != nil {
		readable.Close()
		return err
	}
	defer r.Close()
	return r.ValidateBlockChecksums()
}

// CheckLog reads one write-ahead log: a record that cannot be read but
// is followed by valid ones means writes that were made durable are lost
// (ok false, with the offset). A damaged last record alone is a write torn
// by a crash, which was never acknowledged in sync = always mode and is
// within the sync interval otherwise.
func CheckLog(path string) (Problem, bool) {
	name := filepath.Join("pebble", filepath.Base(path))
	num, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(path), ".log"), 10, 64)
	if err != nil {
		return Problem{}, true // not one of Pebble's logs
	}
	f, err := os.Open(path)
	if err != nil {
		return Problem{File: name, What: err.Error()}, false
	}
	defer f.Close()
	r := newRecordReader(record.NewReader, f, num)
	records := 0
	for {
		at := r.Offset()
		rec, err := r.Next()
		if err == nil {
			_, err = io.Copy(io.Discard, rec)
		}
		switch {
		case err == nil:
			records++
			continue
		case errors.Is(err, io.EOF), errors.Is(err, record.ErrUnexpectedEOF):
			return Problem{}, true
		case errors.Is(err, record.ErrInvalidChunk), errors.Is(err, record.ErrZeroedChunk):
			return Problem{File: name, Offset: at, What: fmt.Sprintf("write-ahead log damaged after record %d (offset %d) with valid records after it", records, at),
				Keys: "writes after that point were acknowledged and are lost"}, false
		default:
			return Problem{File: name, Offset: at, What: fmt.Sprintf("write-ahead log unreadable after record %d: %v", records, err)}, false
		}
	}
}

// newRecordReader calls record.NewReader with a log number of Pebble's own
// (internal) type, which only inference can name.
func newRecordReader[T ~uint64](newReader func(io.Reader, T) *record.Reader, r io.Reader, num uint64) *record.Reader {
	return newReader(r, T(num))
}

// describeKey names a stored key by its space.
func describeKey(k []byte) string {
	if len(k) == 0 {
		return `""`
	}
	name := map[Space]string{Guest: "guest key", Meta: "meta", CRDT: "CRDT object", OpLog: "op log", Vector: "vector", View: "sequence view"}[Space(k[0])]
	if name == "" {
		return strconv.Quote(string(k))
	}
	return name + " " + strconv.Quote(string(k[1:]))
}

// salvageLogs finds write-ahead logs damaged in the middle (Pebble refuses
// to replay them), keeps a copy of each beside the datastore
// (damaged-NAME), and cuts it at its last good record, so the node opens
// with what survived and learns the rest from its peers. It returns what
// was lost.
func salvageLogs(dir string) ([]string, error) {
	logs, err := filepath.Glob(filepath.Join(dir, "pebble", "*.log"))
	if err != nil {
		return nil, err
	}
	var lost []string
	for _, l := range logs {
		p, ok := CheckLog(l)
		if ok {
			continue
		}
		b, err := os.ReadFile(l)
		if err != nil {
			return nil, fmt.Errorf("salvage %s: %w", p.File, err)
		}
		keep := filepath.Join(dir, "damaged-"+filepath.Base(l))
		if err := os.WriteFile(keep, b, 0o644); err != nil {
			return nil, fmt.Errorf("keep a copy of damaged %s: %w", p.File, err)
		}
		if err := os.Truncate(l, p.Offset); err != nil {
			return nil, fmt.Errorf("cut damaged %s at offset %d: %w", p.File, p.Offset, err)
		}
		lost = append(lost, p.String()+" (the damaged log is kept as "+filepath.Base(keep)+")")
	}
	return lost, nil
}
