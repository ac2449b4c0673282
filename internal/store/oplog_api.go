package store

import (
	"fmt"
	"sync"
)

// Log adds the op-log entry (origin, seq) = v to the batch: it is
// written with the batch, ahead of the batch's Pebble writes (oplog.go).
// A later entry for the same (origin, seq) replaces it.
func (b *Batch) Log(origin string, seq uint64, v []byte) {
	b.LogWith(origin, seq, func(d []byte) []byte { return append(d, v...) })
}

// LogWith is Log with the value appended to the batch by appendValue
// (without a copy of its own).
func (b *Batch) LogWith(origin string, seq uint64, appendValue func([]byte) []byte) {
	if b.lb == nil {
		b.lb = logBufs.Get().(*logBuf)
	}
	var voff int
	b.lb.lg, voff = appendRecordWith(b.lb.lg, recEntry, origin, seq, appendValue)
	b.lb.lrec = append(b.lb.lrec, stagedRec{kind: recEntry, origin: origin, seq: seq, voff: voff, vn: len(b.lb.lg) - voff})
}

// logBuf holds a batch's op-log records; they are reused.
type logBuf struct {
	lg   []byte
	lrec []stagedRec
}

var logBufs = sync.Pool{New: func() any { return new(logBuf) }}

func (b *Batch) releaseLog() {
	if b.lb == nil {
		return
	}
	if cap(b.lb.lg) <= 1<<20 {
		b.lb.lg, b.lb.lrec = b.lb.lg[:0], b.lb.lrec[:0]
		logBufs.Put(b.lb)
	}
	b.lb = nil
}

func (b *Batch) logRecords() ([]byte, []stagedRec) {
	if b.lb == nil {
		return nil, nil
	}
	return b.lb.lg, b.lb.lrec
}

// PruneLog adds the removal of origin's op-log entries with seq <= to.
func (b *Batch) PruneLog(origin string, to uint64) {
	if b.lb == nil {
		b.lb = logBufs.Get().(*logBuf)
	}
	b.lb.lg, _ = appendRecord(b.lb.lg, recPrune, origin, to, nil)
	b.lb.lrec = append(b.lb.lrec, stagedRec{kind: recPrune, origin: origin, seq: to})
}

// CutLog adds the removal of origin's op-log entries with seq > after.
func (b *Batch) CutLog(origin string, after uint64) {
	if b.lb == nil {
		b.lb = logBufs.Get().(*logBuf)
	}
	b.lb.lg, _ = appendRecord(b.lb.lg, recCut, origin, after, nil)
	b.lb.lrec = append(b.lb.lrec, stagedRec{kind: recCut, origin: origin, seq: after})
}

// ReadLog calls f, in order, with the op-log entries of origin from seq
// from to seq to, until f returns false. v is f's to keep.
func (s *Store) ReadLog(origin string, from, to uint64, f func(seq uint64, v []byte) bool) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	return s.oplog.read(origin, from, to, f)
}

// LogEntry returns the op-log entry (origin, seq), or ErrNotFound.
func (s *Store) LogEntry(origin string, seq uint64) ([]byte, error) {
	var out []byte
	err := s.ReadLog(origin, seq, seq, func(_ uint64, v []byte) bool { out = v; return false })
	if err == nil && out == nil {
		err = ErrNotFound
	}
	return out, err
}

// LogSpans returns what the op log holds of each origin.
func (s *Store) LogSpans() map[string]LogSpan {
	if err := s.acquire(); err != nil {
		return map[string]LogSpan{}
	}
	defer s.release()
	return s.oplog.spans()
}

// ReconcileLog makes the op log agree with what the caller's vector
// says is applied, after a crash: entries past applied[origin] (their
// commit never reached Pebble) are cut, and an origin whose log stops
// short of applied[origin] (a crash lost log writes its vector has:
// possible only after a power loss) keeps none of it, so the log never
// serves a run with a hole (peers behind it take a snapshot). It returns
// how many origins it changed.
func (s *Store) ReconcileLog(applied map[string]uint64) (int, error) {
	b := s.NewBatch()
	for o, sp := range s.LogSpans() {
		a := applied[o]
		switch {
		case sp.Last > a && sp.First <= a:
			b.CutLog(o, a)
		case sp.Last > a:
			b.CutLog(o, 0)
		case sp.Last < a:
			b.PruneLog(o, a)
		}
	}
	_, recs := b.logRecords()
	n := len(recs)
	if n == 0 {
		b.Discard()
		return 0, nil
	}
	if _, err := s.Commit(b); err != nil {
		return 0, fmt.Errorf("reconcile the op log: %w", err)
	}
	return n, s.Sync()
}

// ReadOnly reports whether the datastore was opened read-only.
func (s *Store) ReadOnly() bool { return s.cfg.ReadOnly }
