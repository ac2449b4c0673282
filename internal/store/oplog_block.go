package store

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Compressed blocks. compact rewrites the live entries as 'z' records,
// each a flate-compressed run of entry records (blockBytes of them
// before compression): the entries of one origin repeat their origin,
// twice (in the record and in the op), and their ops share most of
// their bytes, so a compacted log takes a fraction of its raw size. An
// entry in a block is found by the block's offset and its own offset in
// the decompressed block (logLoc.in); reading one decompresses the block,
// and the last block read is kept for the entries after it.
//
//	'z' [flate(entry records)]

const (
	recBlock   = 'z'
	blockBytes = 256 << 10
	// maxBlockBytes bounds what a block may decompress to.
	maxBlockBytes = 4 * blockBytes
)

// appendBlock appends a 'z' record compressing raw (entry records).
func appendBlock(dst, raw []byte) ([]byte, error) {
	var z bytes.Buffer
	z.WriteByte(recBlock)
	w, err := flate.NewWriter(&z, flate.BestSpeed)
	if err != nil {
		return dst, err
	}
	if _, err := w.Write(raw); err != nil {
		return dst, err
	}
	if err := w.Close(); err != nil {
		return dst, err
	}
	payload := z.Bytes()
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	dst = binary.LittleEndian.AppendUint32(dst, crc32.Checksum(payload, crcTable))
	return append(dst, payload...), nil
}

var errBadBlock = errors.New("op log: damaged compressed block")

// inflate decompresses a 'z' record's payload (after its kind byte).
func inflate(z []byte) ([]byte, error) {
	r := flate.NewReader(bytes.NewReader(z))
	defer r.Close()
	raw, err := io.ReadAll(io.LimitReader(r, maxBlockBytes+1))
	if err != nil || len(raw) > maxBlockBytes {
		return nil, errBadBlock
	}
	return raw, nil
}

// blockEntries decodes the entry records of a decompressed block; only
// entries may be in one.
func blockEntries(raw []byte, f func(r decodedRec)) error {
	for off := int64(0); off < int64(len(raw)); {
		r, err := decodeRecord(raw, off)
		if err != nil || r.kind != recEntry {
			return errBadBlock
		}
		f(r)
		off = r.end
	}
	return nil
}

// blockValue reads the value at loc, an entry in a block (l.mu held).
func (l *opLog) blockValue(seg *segment, loc logLoc) ([]byte, error) {
	if l.lastBlock == nil || l.lastSeg != seg.id || l.lastOff != loc.off {
		var hdr [recHeader]byte
		if _, err := seg.f.ReadAt(hdr[:], loc.off); err != nil {
			return nil, fmt.Errorf("read op log: %w", err)
		}
		rec := make([]byte, recHeader+int(binary.LittleEndian.Uint32(hdr[:])))
		if len(rec) > recHeader+maxRecBytes {
			return nil, errBadBlock
		}
		if _, err := seg.f.ReadAt(rec, loc.off); err != nil {
			return nil, fmt.Errorf("read op log: %w", err)
		}
		if crc32.Checksum(rec[recHeader:], crcTable) != binary.LittleEndian.Uint32(rec[4:]) || rec[recHeader] != recBlock {
			return nil, errBadBlock
		}
		raw, err := inflate(rec[recHeader+1:])
		if err != nil {
			return nil, err
		}
		l.lastBlock, l.lastSeg, l.lastOff = raw, seg.id, loc.off
	}
	start := int(loc.in - 1)
	if start+int(loc.n) > len(l.lastBlock) {
		return nil, errBadBlock
	}
	return bytes.Clone(l.lastBlock[start : start+int(loc.n)]), nil
}
