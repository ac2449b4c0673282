package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// openLog reads every segment under dir and builds the index. A damaged
// record ends its segment: read-write, the file is cut there.
func openLog(dir string, ro bool) (*opLog, error) {
	l := &opLog{dir: filepath.Join(dir, logDirName), ro: ro, byOrigin: map[string][]logLoc{}, nextID: 1}
	if !ro {
		if err := os.MkdirAll(l.dir, 0o755); err != nil {
			return nil, fmt.Errorf("create op log directory: %w", err)
		}
	}
	ents, err := os.ReadDir(l.dir)
	if err != nil && !(ro && errors.Is(err, os.ErrNotExist)) {
		return nil, fmt.Errorf("read op log directory: %w", err)
	}
	var ids []uint32
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, logSuffix) {
			continue
		}
		id, err := strconv.ParseUint(strings.TrimSuffix(name, logSuffix), 16, 32)
		if err != nil || id == 0 {
			return nil, fmt.Errorf("op log: unexpected file %s in %s", name, l.dir)
		}
		ids = append(ids, uint32(id))
	}
	slices.Sort(ids)
	for _, id := range ids {
		if err := l.load(id); err != nil {
			l.close()
			return nil, err
		}
		l.nextID = id + 1
	}
	l.settle()
	l.ownFrom, l.names = l.nextID, nil
	if !ro {
		l.dropDead()
	}
	return l, nil
}

// load reads segment id and replays its records into the index,
// streaming: only the index is kept, never the values.
func (l *opLog) load(id uint32) error {
	path := filepath.Join(l.dir, segName(id))
	flag := os.O_RDWR
	if l.ro {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return fmt.Errorf("open op log segment: %w", err)
	}
	seg := &segment{id: id, f: f}
	l.segs = append(l.segs, seg)
	br := bufio.NewReaderSize(io.NewSectionReader(f, 0, 1<<62), 256<<10)
	var rec []byte
	off := int64(0)
	for {
		hdr, err := br.Peek(recHeader)
		if err != nil {
			break // the end, or a torn header
		}
		n := int(binary.LittleEndian.Uint32(hdr))
		if n == 0 || n > maxRecBytes {
			break
		}
		rec = slices.Grow(rec[:0], recHeader+n)[:recHeader+n]
		if _, err := io.ReadFull(br, rec); err != nil {
			break
		}
		r, err := decodeRecord(rec, 0)
		if err != nil {
			break
		}
		if r.kind == recBlock {
			if !l.replayBlock(rec[r.valOff:r.end], off, seg) {
				break
			}
			off += r.end
			continue
		}
		r.valOff += off
		r.origin = l.intern(r.origin)
		l.replay(r, seg)
		off += r.end
	}
	seg.size = off
	if !l.ro {
		st, err := f.Stat()
		if err != nil {
			return fmt.Errorf("op log segment: %w", err)
		}
		if st.Size() > off {
			// A torn or damaged tail (a crash mid-write): what follows it
			// was never acknowledged as durable. Cut it, so that what
			// later segments hold is read past it next time too.
			if err := f.Truncate(off); err != nil {
				return fmt.Errorf("cut the damaged tail of op log segment %s: %w", path, err)
			}
		}
	}
	return nil
}

// intern returns the origin string the index already holds for o.
func (l *opLog) intern(o string) string {
	if k, ok := l.names[o]; ok {
		return k
	}
	if l.names == nil {
		l.names = map[string]string{}
	}
	l.names[o] = o
	return o
}

// Replay. Records are read back in order, but an origin's entries need
// not come in seq order: an entry replaced later (its op stored again
// with a head) sits after entries of higher seqs, and its first record
// may be gone with a segment nothing else kept alive. So entries are
// gathered per origin by seq while reading, prune and cut records
// applied to them as they come, and each origin's run is built at the
// end (settle).

// replay applies one record read back at open.
func (l *opLog) replay(r decodedRec, seg *segment) {
	switch r.kind {
	case recEntry:
		l.gather(r.origin, logLoc{seq: r.seq, off: r.valOff, seg: seg.id, n: uint32(r.valLen)}, seg)
	case recPrune:
		for seq, loc := range l.loading[r.origin] {
			if seq <= r.seq {
				l.unref(loc)
				delete(l.loading[r.origin], seq)
			}
		}
	case recCut:
		for seq, loc := range l.loading[r.origin] {
			if seq > r.seq {
				l.unref(loc)
				delete(l.loading[r.origin], seq)
			}
		}
	}
}

// gather records an entry read back, replacing an earlier one of the
// same seq.
func (l *opLog) gather(origin string, loc logLoc, seg *segment) {
	m := l.loading[origin]
	if m == nil {
		if l.loading == nil {
			l.loading = map[string]map[uint64]logLoc{}
		}
		m = map[uint64]logLoc{}
		l.loading[origin] = m
	}
	if old, ok := m[loc.seq]; ok {
		l.unref(old)
	}
	m[loc.seq] = loc
	seg.live++
}

// settle builds each origin's run from the gathered entries: the
// contiguous run that ends at its highest seq (entries before a gap, a
// hole a crash left, are dropped as a prune would).
func (l *opLog) settle() {
	for o, m := range l.loading {
		seqs := slices.Sorted(maps.Keys(m))
		start := 0
		for i := 1; i < len(seqs); i++ {
			if seqs[i] != seqs[i-1]+1 {
				start = i
			}
		}
		for _, seq := range seqs[:start] {
			l.unref(m[seq])
		}
		if len(seqs) == start {
			continue
		}
		locs := make([]logLoc, 0, len(seqs)-start)
		for _, seq := range seqs[start:] {
			locs = append(locs, m[seq])
		}
		l.byOrigin[o] = locs
	}
	l.loading = nil
}

// replayBlock replays the entries of the compressed block z, whose
// record is at off in seg; false if it does not decode (a damaged
// record: it ends the segment).
func (l *opLog) replayBlock(z []byte, off int64, seg *segment) bool {
	raw, err := inflate(z)
	if err != nil {
		return false
	}
	var ents []decodedRec
	if blockEntries(raw, func(r decodedRec) { ents = append(ents, r) }) != nil {
		return false
	}
	for _, r := range ents {
		l.gather(l.intern(r.origin), logLoc{seq: r.seq, off: off, seg: seg.id, n: uint32(r.valLen), in: uint32(r.valOff + 1)}, seg)
	}
	return true
}

// checkSegment reads one op-log segment for nx check: a record that does
// not decode but is followed by one that does means entries were lost
// from the middle (ok false); a damaged last record alone is a write torn
// by a crash, cut at the next open.
func checkSegment(dir, path string) (Problem, bool) {
	name, _ := filepath.Rel(dir, path)
	data, err := os.ReadFile(path)
	if err != nil {
		return Problem{File: name, What: "op log segment: " + err.Error()}, false
	}
	off := int64(0)
	for off < int64(len(data)) {
		r, err := decodeRecord(data, off)
		if err == nil && r.kind == recBlock {
			var raw []byte
			if raw, err = inflate(data[r.valOff:r.end]); err == nil {
				err = blockEntries(raw, func(decodedRec) {})
			}
		}
		if err != nil {
			break
		}
		off = r.end
	}
	for next := off + 1; next < int64(len(data)); next++ {
		if _, err := decodeRecord(data, next); err == nil {
			return Problem{File: name, Offset: off, What: fmt.Sprintf(
				"op log segment damaged at offset %d, with valid records after it (from %d): the entries between are lost", off, next),
				Keys: "ops of this node and its peers' that the log no longer holds; at start the node drops the run of each origin that stops short of its vector, and peers that need those ops take a snapshot"}, false
		}
	}
	return Problem{}, true
}
