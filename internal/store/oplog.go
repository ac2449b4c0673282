package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
)

// The op log lives outside Pebble, in append-only segment files under
// DIR/oplog (docs/crdt.md, "Durability and crash atomicity"). Every op a
// node applies is logged once and dropped again once every peer has it:
// in the LSM that was a write, a memtable insert, a flush and a
// compaction per op (a third of a node's CPU under load). Here it is an
// append to a buffer, written with the batch's other writes and fsynced
// with them; pruning drops index entries and deletes whole segments.
//
// A record is [u32 len][u32 crc32c(payload)][payload], payload:
//
//	'e' [uvarint len][origin][uvarint seq][value]  the entry (origin, seq)
//	'p' [uvarint len][origin][uvarint to]          entries seq <= to are gone
//	'c' [uvarint len][origin][uvarint after]       entries seq > after are gone
//
// Records are replayed in order at open; a later entry for the same
// (origin, seq) replaces the earlier one. Entries are only ever appended
// ahead of the Pebble batch that holds the same commit's state and
// vector (the log is written, with write(2), before Pebble's WAL, and
// fsynced before it), so after a crash the log holds at least what the
// vector says is applied, and the replica drops the rest (ReconcileLog).
// Segments are deleted oldest first, and only once nothing in them is
// live, so a prune or cut record outlives every entry it removes.

const (
	logDirName  = "oplog"
	logSuffix   = ".log"
	recHeader   = 8
	maxRecBytes = 64 << 20

	recEntry = 'e'
	recPrune = 'p'
	recCut   = 'c'
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// segBytes is the size past which appends go to a new segment (a
// variable for tests).
var segBytes int64 = 4 << 20

// LogSpan is what the op log holds of one origin: every seq from First
// to Last.
type LogSpan struct{ First, Last uint64 }

// logLoc is where an entry's value is: n bytes at off in segment seg.
type logLoc struct {
	seq uint64
	off int64
	seg uint32
	n   uint32
	in  uint32 // in a compressed block at off: 1 + the value's offset in it (oplog_block.go)
}

type segment struct {
	id   uint32
	f    *os.File
	size int64 // bytes in the file (written)
	live int   // index entries pointing into it
}

type opLog struct {
	dir string
	ro  bool

	mu       sync.Mutex
	segs     []*segment // oldest first; the last is the one appended to
	byOrigin map[string][]logLoc
	loading  map[string]map[uint64]logLoc // entries read back, while opening (oplog_open.go)
	names    map[string]string            // origins, interned while loading
	buf      []byte                       // appended to the last segment, not yet written
	nextID   uint32
	ownFrom  uint32     // segments from this id on were created by this process
	unsynced []*os.File // segments rotated out since the last fsync
	dirDirty bool       // a segment created since the last fsync
	writeErr error      // a failed write or fsync: nothing after it is durable

	syncMu sync.Mutex // serializes fsyncs (SyncAlways commits share them)
	// lastBlock is the compressed block last read, at lastOff in segment
	// lastSeg (oplog_block.go).
	lastBlock []byte
	lastSeg   uint32
	lastOff   int64
	// appended numbers appends; synced is the last one known durable.
	appended, synced uint64
}

// stagedRec is a record of a batch not yet committed: its value (for an
// entry) is at voff in the batch's log bytes.
type stagedRec struct {
	kind   byte
	origin string
	seq    uint64
	voff   int
	vn     int
}

func appendRecord(dst []byte, kind byte, origin string, seq uint64, v []byte) (out []byte, voff int) {
	dst = slices.Grow(dst, recHeader+1+2*binary.MaxVarintLen64+len(origin)+len(v))
	return appendRecordWith(dst, kind, origin, seq, func(d []byte) []byte { return append(d, v...) })
}

// appendRecordWith is appendRecord with the value appended by appendValue.
func appendRecordWith(dst []byte, kind byte, origin string, seq uint64, appendValue func([]byte) []byte) (out []byte, voff int) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0, kind)
	dst = binary.AppendUvarint(dst, uint64(len(origin)))
	dst = append(dst, origin...)
	dst = binary.AppendUvarint(dst, seq)
	voff = len(dst)
	dst = appendValue(dst)
	payload := dst[start+recHeader:]
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(payload, crcTable))
	return dst, voff
}

// decodedRec is one record read back from a segment; val is at valOff in
// the segment.
type decodedRec struct {
	kind   byte
	origin string
	seq    uint64
	valOff int64
	valLen int
	end    int64 // offset just past the record
}

var errBadRecord = errors.New("op log: damaged record")

// decodeRecord decodes the record at off in data.
func decodeRecord(data []byte, off int64) (decodedRec, error) {
	var r decodedRec
	rest := data[off:]
	if len(rest) < recHeader {
		return r, errBadRecord
	}
	n := binary.LittleEndian.Uint32(rest)
	if n == 0 || n > maxRecBytes || int64(n) > int64(len(rest)-recHeader) {
		return r, errBadRecord
	}
	payload := rest[recHeader : recHeader+int(n)]
	if crc32.Checksum(payload, crcTable) != binary.LittleEndian.Uint32(rest[4:]) {
		return r, errBadRecord
	}
	r.kind = payload[0]
	if r.kind == recBlock {
		r.valOff, r.valLen, r.end = off+recHeader+1, int(n)-1, off+recHeader+int64(n)
		return r, nil
	}
	p := payload[1:]
	ol, w := binary.Uvarint(p)
	if w <= 0 || ol > uint64(len(p)-w) || ol == 0 {
		return r, errBadRecord
	}
	r.origin = string(p[w : w+int(ol)])
	p = p[w+int(ol):]
	seq, w2 := binary.Uvarint(p)
	if w2 <= 0 {
		return r, errBadRecord
	}
	r.seq = seq
	p = p[w2:]
	switch r.kind {
	case recEntry:
		r.valOff = off + recHeader + int64(len(payload)-len(p))
		r.valLen = len(p)
	case recPrune, recCut:
		if len(p) != 0 {
			return r, errBadRecord
		}
	default:
		return r, errBadRecord
	}
	r.end = off + recHeader + int64(n)
	return r, nil
}

func segName(id uint32) string { return fmt.Sprintf("%08x%s", id, logSuffix) }

// segByID returns the live segment id (nil if deleted).
func (l *opLog) segByID(id uint32) *segment {
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].id >= id })
	if i < len(l.segs) && l.segs[i].id == id {
		return l.segs[i]
	}
	return nil
}

func (l *opLog) unref(loc logLoc) {
	if s := l.segByID(loc.seg); s != nil {
		s.live--
	}
}

// put adds or replaces the entry at loc, appended by a commit. An
// origin's entries stay one contiguous run of seqs: an entry past a gap
// drops the ones before it, as a prune would (the replica appends past
// its vector, so this is a guard, not a path it takes).
func (l *opLog) put(origin string, loc logLoc, seg *segment) {
	locs := l.byOrigin[origin]
	seg.live++
	switch {
	case len(locs) == 0 || loc.seq == locs[len(locs)-1].seq+1:
		l.byOrigin[origin] = append(locs, loc)
	case loc.seq > locs[len(locs)-1].seq+1:
		for _, old := range locs {
			l.unref(old)
		}
		l.byOrigin[origin] = append(locs[:0], loc)
	case loc.seq >= locs[0].seq:
		i := int(loc.seq - locs[0].seq)
		l.unref(locs[i])
		locs[i] = loc
	default:
		// Before the first entry: older than what was pruned, dropped.
		seg.live--
	}
}

// prune drops the entries of origin with seq <= to.
func (l *opLog) prune(origin string, to uint64) {
	locs := l.byOrigin[origin]
	if len(locs) == 0 || locs[0].seq > to {
		return
	}
	n := min(int(to-locs[0].seq+1), len(locs))
	for _, loc := range locs[:n] {
		l.unref(loc)
	}
	if n == len(locs) {
		delete(l.byOrigin, origin)
		return
	}
	// In place: the array is reused by the appends that follow.
	rest := copy(locs, locs[n:])
	l.byOrigin[origin] = locs[:rest]
}

// cut drops the entries of origin with seq > after.
func (l *opLog) cut(origin string, after uint64) {
	locs := l.byOrigin[origin]
	if len(locs) == 0 || locs[len(locs)-1].seq <= after {
		return
	}
	keep := 0
	if after >= locs[0].seq {
		keep = int(after - locs[0].seq + 1)
	}
	for _, loc := range locs[keep:] {
		l.unref(loc)
	}
	if keep == 0 {
		delete(l.byOrigin, origin)
		return
	}
	l.byOrigin[origin] = locs[:keep]
}

// dropDead deletes the oldest segments while nothing in them is live
// (never the one being appended to). A deleted segment's removal need
// not be durable: its entries were all pruned, and the records that
// pruned them are in later segments, which stay.
func (l *opLog) dropDead() {
	for len(l.segs) > 1 && l.segs[0].live <= 0 {
		s := l.segs[0]
		_ = s.f.Close()
		_ = os.Remove(filepath.Join(l.dir, segName(s.id)))
		l.segs = l.segs[1:]
	}
}

// active returns the segment appended to, creating one when there is
// none, the last is full, or the last was found at open (its tail may
// have been cut: it is never appended to).
func (l *opLog) active() (*segment, error) {
	if n := len(l.segs); n > 0 {
		last := l.segs[n-1]
		if last.id >= l.ownFrom && last.size+int64(len(l.buf)) < segBytes {
			return last, nil
		}
		if last.id >= l.ownFrom {
			if err := l.flushLocked(); err != nil {
				return nil, err
			}
			l.unsynced = append(l.unsynced, last.f)
		}
	}
	f, err := os.OpenFile(filepath.Join(l.dir, segName(l.nextID)), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create op log segment: %w", err)
	}
	s := &segment{id: l.nextID, f: f}
	l.nextID++
	l.segs = append(l.segs, s)
	l.dirDirty = true
	return s, nil
}

// append adds a committed batch's records (encoded in data) to the log
// and the index, and returns the append's number (for syncTo). They
// reach the file at the next flush.
func (l *opLog) append(data []byte, recs []stagedRec) (uint64, error) {
	if len(recs) == 0 {
		return 0, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.writeErr != nil {
		return 0, l.writeErr
	}
	seg, err := l.active()
	if err != nil {
		l.writeErr = err
		return 0, err
	}
	l.appended++
	base := seg.size + int64(len(l.buf))
	l.buf = append(l.buf, data...)
	for _, r := range recs {
		switch r.kind {
		case recEntry:
			l.put(r.origin, logLoc{seq: r.seq, off: base + int64(r.voff), seg: seg.id, n: uint32(r.vn)}, seg)
		case recPrune:
			l.prune(r.origin, r.seq)
		case recCut:
			l.cut(r.origin, r.seq)
		}
	}
	l.dropDead()
	if len(l.buf) >= bufBytes {
		// Written early, ahead of its group's Pebble writes, as always.
		if err := l.flushLocked(); err != nil {
			return 0, err
		}
	}
	return l.appended, nil
}

// bufBytes bounds the records held in memory between flushes.
const bufBytes = 1 << 20

// flush writes the buffered records to the segment file.
func (l *opLog) flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.flushLocked()
}

func (l *opLog) flushLocked() error {
	if len(l.buf) == 0 || l.writeErr != nil {
		return l.writeErr
	}
	seg := l.segs[len(l.segs)-1]
	n, err := seg.f.WriteAt(l.buf, seg.size)
	seg.size += int64(n)
	if err != nil {
		l.writeErr = fmt.Errorf("write op log: %w", err)
		return l.writeErr
	}
	l.buf = l.buf[:0]
	return nil
}

// sync makes every record appended so far durable: written, then the
// segments rotated out, the one appended to and, after a new segment,
// the directory fsynced.
func (l *opLog) sync() error {
	l.mu.Lock()
	n := l.appended
	l.mu.Unlock()
	return l.syncTo(n)
}

// syncTo makes the records of appends numbered up to n durable.
// Concurrent callers share fsyncs: one that finds its appends covered by
// an fsync that ran while it waited returns at once.
func (l *opLog) syncTo(n uint64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	if l.synced >= n && l.writeErr == nil {
		l.mu.Unlock()
		return nil
	}
	target := l.appended
	if err := l.flushLocked(); err != nil {
		l.mu.Unlock()
		return err
	}
	files := l.unsynced
	l.unsynced = nil
	if n := len(l.segs); n > 0 && l.segs[n-1].id >= l.ownFrom {
		files = append(files, l.segs[n-1].f)
	}
	dir := l.dirDirty
	l.dirDirty = false
	l.mu.Unlock()
	for _, f := range files {
		if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
			return l.failSync(fmt.Errorf("fsync op log: %w", err))
		}
	}
	if dir {
		if err := syncDir(l.dir); err != nil {
			return l.failSync(err)
		}
	}
	l.mu.Lock()
	l.synced = max(l.synced, target)
	l.mu.Unlock()
	return nil
}

func (l *opLog) failSync(err error) error {
	l.mu.Lock()
	if l.writeErr == nil {
		l.writeErr = err
	}
	l.mu.Unlock()
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open op log directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync op log directory: %w", err)
	}
	return nil
}

// value reads the value at loc (l.mu held).
func (l *opLog) value(loc logLoc) ([]byte, error) {
	seg := l.segByID(loc.seg)
	if seg == nil {
		return nil, fmt.Errorf("op log: segment %d of a live entry is gone", loc.seg)
	}
	if loc.in != 0 {
		return l.blockValue(seg, loc)
	}
	v := make([]byte, loc.n)
	if end := loc.off + int64(loc.n); end > seg.size {
		// Still in the buffer (only the last segment has one).
		if seg != l.segs[len(l.segs)-1] || loc.off < seg.size {
			return nil, fmt.Errorf("op log: entry at %d+%d past segment %d's end %d", loc.off, loc.n, loc.seg, seg.size)
		}
		copy(v, l.buf[loc.off-seg.size:])
		return v, nil
	}
	if _, err := seg.f.ReadAt(v, loc.off); err != nil {
		return nil, fmt.Errorf("read op log: %w", err)
	}
	return v, nil
}

// readChunk is how many entries read holds the lock for at a time.
const readChunk = 256

// read calls f with the entries of origin from..to in order, until f
// returns false. f runs without the log's lock (it may block, sending).
func (l *opLog) read(origin string, from, to uint64, f func(seq uint64, v []byte) bool) error {
	type ent struct {
		seq uint64
		v   []byte
	}
	var chunk []ent
	for from <= to {
		chunk = chunk[:0]
		err := func() error {
			l.mu.Lock()
			defer l.mu.Unlock()
			locs := l.byOrigin[origin]
			if len(locs) == 0 || locs[len(locs)-1].seq < from {
				return nil
			}
			i := 0
			if first := locs[0].seq; from > first {
				i = int(from - first)
			}
			for ; i < len(locs) && locs[i].seq <= to && len(chunk) < readChunk; i++ {
				v, err := l.value(locs[i])
				if err != nil {
					return err
				}
				chunk = append(chunk, ent{locs[i].seq, v})
			}
			return nil
		}()
		if err != nil || len(chunk) == 0 {
			return err
		}
		for _, e := range chunk {
			if !f(e.seq, e.v) {
				return nil
			}
		}
		if chunk[len(chunk)-1].seq == ^uint64(0) {
			return nil
		}
		from = chunk[len(chunk)-1].seq + 1
	}
	return nil
}

// spans returns what the log holds of each origin.
func (l *opLog) spans() map[string]LogSpan {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]LogSpan, len(l.byOrigin))
	for o, locs := range l.byOrigin {
		out[o] = LogSpan{First: locs[0].seq, Last: locs[len(locs)-1].seq}
	}
	return out
}

// bytes returns the size of the segment files.
func (l *opLog) bytes() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, s := range l.segs {
		n += s.size
	}
	return n + int64(len(l.buf))
}

func (l *opLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.segs {
		if s.f != nil {
			_ = s.f.Close()
		}
	}
	l.segs = nil
}

// compact rewrites the live entries into a new segment and deletes every
// older one, so the log's files hold only what is live.
func (l *opLog) compact() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.writeErr != nil {
		return l.writeErr
	}
	if err := l.flushLocked(); err != nil {
		return err
	}
	if n := len(l.segs); n > 0 && l.segs[n-1].id >= l.ownFrom {
		l.unsynced = append(l.unsynced, l.segs[n-1].f)
	}
	l.ownFrom = l.nextID // a new segment for the rewrite
	seg, err := l.active()
	if err != nil {
		return err
	}
	// The live entries, in compressed blocks (oplog_block.go); each
	// entry's new place is set once its block is written.
	var raw []byte
	type moved struct {
		locs []logLoc
		i    int
		in   int
	}
	var pending []moved
	writeBlock := func() error {
		if len(raw) == 0 {
			return nil
		}
		base := seg.size + int64(len(l.buf))
		var err error
		if l.buf, err = appendBlock(l.buf, raw); err != nil {
			return err
		}
		for _, m := range pending {
			loc := m.locs[m.i]
			l.unref(loc)
			seg.live++
			m.locs[m.i] = logLoc{seq: loc.seq, off: base, seg: seg.id, n: loc.n, in: uint32(m.in + 1)}
		}
		raw, pending = raw[:0], pending[:0]
		return nil
	}
	for _, o := range slices.Sorted(maps.Keys(l.byOrigin)) {
		locs := l.byOrigin[o]
		for i, loc := range locs {
			v, err := l.value(loc)
			if err != nil {
				return err
			}
			var voff int
			raw, voff = appendRecord(raw, recEntry, o, loc.seq, v)
			pending = append(pending, moved{locs, i, voff})
			if len(raw) >= blockBytes {
				if err := writeBlock(); err != nil {
					return err
				}
			}
		}
	}
	if err := writeBlock(); err != nil {
		return err
	}
	if err := l.flushLocked(); err != nil {
		return err
	}
	// Durable before the old segments go.
	for _, f := range append(l.unsynced, seg.f) {
		if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
			l.writeErr = fmt.Errorf("fsync op log: %w", err)
			return l.writeErr
		}
	}
	l.unsynced = nil
	if err := syncDir(l.dir); err != nil {
		l.writeErr = err
		return err
	}
	l.dirDirty = false
	l.dropDead()
	return nil
}
