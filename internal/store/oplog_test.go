package store

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// logModel is what the op log must hold: per origin, seq -> value.
type logModel map[string]map[uint64][]byte

func (m logModel) spans() map[string]LogSpan {
	out := map[string]LogSpan{}
	for o, ents := range m {
		if len(ents) == 0 {
			continue
		}
		seqs := slices.Sorted(func(yield func(uint64) bool) {
			for s := range ents {
				if !yield(s) {
					return
				}
			}
		})
		out[o] = LogSpan{First: seqs[0], Last: seqs[len(seqs)-1]}
	}
	return out
}

func checkLog(t interface {
	Helper()
	Fatalf(string, ...any)
}, s *Store, m logModel, when string) {
	t.Helper()
	got, want := s.LogSpans(), m.spans()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s: spans %v, want %v", when, got, want)
	}
	for o, sp := range want {
		n := 0
		err := s.ReadLog(o, 0, ^uint64(0), func(seq uint64, v []byte) bool {
			if w := m[o][seq]; !bytes.Equal(v, w) {
				t.Fatalf("%s: %s/%d = %q, want %q", when, o, seq, v, w)
			}
			n++
			return true
		})
		if err != nil || uint64(n) != sp.Last-sp.First+1 {
			t.Fatalf("%s: read %d entries of %s (%v), want %d", when, n, o, err, sp.Last-sp.First+1)
		}
	}
}

func logFiles(t interface{ Fatalf(string, ...any) }, dir string) []string {
	ents, err := os.ReadDir(filepath.Join(dir, logDirName))
	if err != nil {
		t.Fatalf("read op log dir: %v", err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// The op log holds exactly what was logged, pruned, cut and replaced,
// through reopens and compactions, whatever the order, with segments
// small enough that every run spans many of them.
func TestLog_MatchesAModel(t *testing.T) {
	old := segBytes
	segBytes = 700
	defer func() { segBytes = old }()
	rapid.Check(t, func(rt *rapid.T) {
		dir := t.TempDir()
		cfg := DefaultConfig(dir)
		cfg.Sync = rapid.SampledFrom([]SyncMode{SyncInterval, SyncAlways}).Draw(rt, "mode")
		s, err := Open(cfg)
		if err != nil {
			rt.Fatalf("open: %v", err)
		}
		defer func() { _ = s.Close() }()
		m := logModel{}
		origins := []string{"origin-a", "origin-b", "origin-c"}
		for step := range rapid.IntRange(1, 60).Draw(rt, "steps") {
			o := rapid.SampledFrom(origins).Draw(rt, "origin")
			if m[o] == nil {
				m[o] = map[uint64][]byte{}
			}
			sp, has := m.spans()[o]
			b := s.NewBatch()
			var what string
			switch rapid.IntRange(0, 9).Draw(rt, "op") {
			case 0, 1, 2, 3: // append a run
				next := sp.Last + 1
				if !has {
					next = rapid.Uint64Range(1, 50).Draw(rt, "first")
				}
				for i := range rapid.IntRange(1, 8).Draw(rt, "n") {
					v := bytes.Repeat([]byte{byte(step), byte(i)}, rapid.IntRange(0, 90).Draw(rt, "len"))
					b.Log(o, next, v)
					m[o][next] = v
					next++
				}
				b.Set(Vector, []byte(o), []byte("x")) // with a Pebble write, as the replica's
				what = "append"
			case 4: // replace one (a head stored with its op)
				if !has {
					b.Discard()
					continue
				}
				seq := rapid.Uint64Range(sp.First, sp.Last).Draw(rt, "seq")
				v := []byte(fmt.Sprintf("replaced %d", step))
				b.Log(o, seq, v)
				m[o][seq] = v
				what = "replace"
			case 5, 6:
				to := rapid.Uint64Range(0, sp.Last+2).Draw(rt, "to")
				b.PruneLog(o, to)
				for seq := range m[o] {
					if seq <= to {
						delete(m[o], seq)
					}
				}
				what = fmt.Sprintf("prune %s to %d", o, to)
			case 7:
				after := rapid.Uint64Range(0, sp.Last+1).Draw(rt, "after")
				b.CutLog(o, after)
				for seq := range m[o] {
					if seq > after {
						delete(m[o], seq)
					}
				}
				what = fmt.Sprintf("cut %s after %d", o, after)
			case 8:
				b.Discard()
				if err := s.Close(); err != nil {
					rt.Fatalf("close: %v", err)
				}
				if s, err = Open(cfg); err != nil {
					rt.Fatalf("reopen: %v", err)
				}
				checkLog(rt, s, m, "after reopen")
				continue
			case 9:
				b.Discard()
				if err := s.Compact(t.Context()); err != nil {
					rt.Fatalf("compact: %v", err)
				}
				if files := logFiles(rt, dir); len(files) != 1 {
					rt.Fatalf("after compact, segments %v: want the one rewritten", files)
				}
				checkLog(rt, s, m, "after compact")
				continue
			}
			if _, err := s.Commit(b); err != nil {
				rt.Fatalf("commit: %v", err)
			}
			checkLog(rt, s, m, what)
		}
		// Segments nothing is live in are gone, oldest first: at most the
		// ones from the oldest live entry on remain.
		live := 0
		for _, ents := range m {
			live += len(ents)
		}
		if files := logFiles(rt, dir); live == 0 && len(files) > 1 {
			rt.Fatalf("empty log keeps %d segments: %v", len(files), files)
		}
	})
}

// writeLog writes entries 1..n of origin "o" (value: seq v's) in a new
// datastore in dir, closes it, and returns the model, the path of the
// last segment and its bytes.
func writeLog(t *testing.T, dir string, n uint64) (logModel, string, []byte) {
	t.Helper()
	s, err := Open(DefaultConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	m := logModel{"o": {}}
	for seq := uint64(1); seq <= n; seq++ {
		b := s.NewBatch()
		v := []byte(strings.Repeat("v", int(seq)))
		b.Log("o", seq, v)
		m["o"][seq] = v
		if _, err := s.Commit(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files := logFiles(t, dir)
	path := filepath.Join(dir, logDirName, files[len(files)-1])
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return m, path, data
}

// A crash mid-write leaves a torn record at the end of a segment: the
// entries before it open, the torn one is cut off the file, and entries
// written after the reopen read back at the next.
func TestLog_TornTailIsCut(t *testing.T) {
	for _, tear := range []struct {
		name string
		do   func(data []byte) []byte
	}{
		{"short header", func(d []byte) []byte { return append(d, 9, 0, 0) }},
		{"short payload", func(d []byte) []byte { return d[:len(d)-3] }},
		{"bad checksum", func(d []byte) []byte { d[len(d)-1] ^= 0xff; return d }},
		{"zeros", func(d []byte) []byte { return append(d, make([]byte, 4096)...) }},
	} {
		t.Run(tear.name, func(t *testing.T) {
			dir := t.TempDir()
			m, path, data := writeLog(t, dir, 5)
			torn := tear.do(data)
			if err := os.WriteFile(path, torn, 0o644); err != nil {
				t.Fatal(err)
			}
			if len(torn) < len(data) || tear.name == "bad checksum" {
				delete(m["o"], 5) // the last record is the damaged one
			}
			s, err := Open(DefaultConfig(dir))
			if err != nil {
				t.Fatalf("reopen after a torn write: %v", err)
			}
			checkLog(t, s, m, "after the tear")
			b := s.NewBatch()
			next := m.spans()["o"].Last + 1
			b.Log("o", next, []byte("after"))
			m["o"][next] = []byte("after")
			if _, err := s.Commit(b); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s, err = Open(DefaultConfig(dir))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			checkLog(t, s, m, "reopened again")
		})
	}
}

// After a crash the log may hold entries whose commit never reached
// Pebble (cut), or, after a power loss, lack entries the vector has (the
// origin's run is dropped whole, never served with a hole).
func TestLog_ReconcileWithTheVector(t *testing.T) {
	s := openTest(t, SyncInterval)
	b := s.NewBatch()
	for seq := uint64(1); seq <= 10; seq++ {
		b.Log("ahead", seq, []byte("a"))
		b.Log("short", seq, []byte("s"))
		b.Log("exact", seq, []byte("e"))
		b.Log("unknown", seq, []byte("u"))
	}
	if _, err := s.Commit(b); err != nil {
		t.Fatal(err)
	}
	n, err := s.ReconcileLog(map[string]uint64{"ahead": 7, "short": 12, "exact": 10})
	if err != nil || n != 3 {
		t.Fatalf("reconcile changed %d origins (%v), want 3", n, err)
	}
	want := map[string]LogSpan{"ahead": {1, 7}, "exact": {1, 10}}
	if got := s.LogSpans(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("spans %v, want %v", got, want)
	}
	if n, err := s.ReconcileLog(map[string]uint64{"ahead": 7, "exact": 10}); err != nil || n != 0 {
		t.Fatalf("a second reconcile changed %d (%v)", n, err)
	}
}

// A segment's records decode or are refused; no input panics or loops.
func FuzzLogSegment(f *testing.F) {
	var seg []byte
	seg, _ = appendRecord(seg, recEntry, "origin", 7, []byte("value"))
	seg, _ = appendRecord(seg, recPrune, "origin", 3, nil)
	seg, _ = appendRecord(seg, recCut, "origin", 9, nil)
	f.Add(seg)
	f.Add(seg[:len(seg)-2])
	var raw []byte
	raw, _ = appendRecord(raw, recEntry, "origin", 8, []byte("in a block"))
	raw, _ = appendRecord(raw, recEntry, "other", 1, []byte("and another"))
	block, err := appendBlock(nil, raw)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(append(seg, block...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, logDirName), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, logDirName, segName(1)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := openLog(dir, false)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer l.close()
		for o, sp := range l.spans() {
			if err := l.read(o, sp.First, sp.Last, func(uint64, []byte) bool { return true }); err != nil {
				t.Fatalf("read back %s: %v", o, err)
			}
		}
		if fi, err := os.Stat(filepath.Join(dir, logDirName, segName(1))); err == nil && fi.Size() > int64(len(data)) {
			t.Fatalf("segment grew from %d to %d bytes", len(data), fi.Size())
		}
	})
}

// nx check reports an op-log segment damaged in the middle (valid records
// after the damage: entries lost), not one whose last record is torn.
func TestCheck_OpLogSegment(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func([]byte) []byte
		want   bool // a problem reported
	}{
		{"intact", func(d []byte) []byte { return d }, false},
		{"torn tail", func(d []byte) []byte { return d[:len(d)-4] }, false},
		{"damaged middle", func(d []byte) []byte { d[recHeader+3] ^= 0xff; return d }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, path, data := writeLog(t, dir, 4)
			if err := os.WriteFile(path, tc.damage(data), 0o644); err != nil {
				t.Fatal(err)
			}
			problems, err := Check(dir)
			if err != nil {
				t.Fatal(err)
			}
			var found []string
			for _, p := range problems {
				if strings.HasPrefix(p.File, logDirName) {
					found = append(found, p.String())
				}
			}
			if (len(found) > 0) != tc.want {
				t.Fatalf("problems %q, want reported: %v", found, tc.want)
			}
		})
	}
}
