package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func openTest(t *testing.T, mode SyncMode) *Store {
	t.Helper()
	cfg := DefaultConfig(t.TempDir())
	cfg.Sync = mode
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func mustSet(t *testing.T, s *Store, sp Space, k, v string) {
	t.Helper()
	if _, err := s.Set(sp, []byte(k), []byte(v)); err != nil {
		t.Fatalf("Set(%q): %v", k, err)
	}
}

func TestStore_GetSetDeleteExists(t *testing.T) {
	s := openTest(t, SyncInterval)
	mustSet(t, s, Guest, "a", "1")
	mustSet(t, s, Guest, "", "empty key")
	mustSet(t, s, Guest, "e", "")

	tests := []struct {
		name    string
		sp      Space
		key     string
		want    string
		wantErr error
	}{
		{"present", Guest, "a", "1", nil},
		{"empty_key", Guest, "", "empty key", nil},
		{"empty_value", Guest, "e", "", nil},
		{"absent", Guest, "zz", "", ErrNotFound},
		{"other_space_is_separate", Meta, "a", "", ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Get(tt.sp, []byte(tt.key))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Get err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && string(got) != tt.want {
				t.Fatalf("Get = %q, want %q", got, tt.want)
			}
			ok, err := s.Exists(tt.sp, []byte(tt.key))
			if err != nil || ok != (tt.wantErr == nil) {
				t.Fatalf("Exists = %v, %v", ok, err)
			}
		})
	}
	if _, err := s.Delete(Guest, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(Guest, []byte("never")); err != nil {
		t.Fatalf("Delete of absent key: %v", err)
	}
	if _, err := s.Get(Guest, []byte("a")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after Delete: %v", err)
	}
}

func keysOf(rows []Row) []string {
	var ks []string
	for _, r := range rows {
		ks = append(ks, string(r.Key))
	}
	return ks
}

func TestStore_Scan(t *testing.T) {
	s := openTest(t, SyncInterval)
	for _, k := range []string{"a", "b/1", "b/2", "b/3", "b\xff", "c", "__nx/x"} {
		mustSet(t, s, Guest, k, "v"+k)
	}
	mustSet(t, s, Meta, "b/9", "runtime")
	hideReserved := func(k []byte) bool { return bytes.HasPrefix(k, []byte("__nx/")) }

	tests := []struct {
		name    string
		opts    ScanOptions
		want    []string
		wantErr bool
	}{
		{"all", ScanOptions{}, []string{"__nx/x", "a", "b/1", "b/2", "b/3", "b\xff", "c"}, false},
		{"skip_hides", ScanOptions{Skip: hideReserved}, []string{"a", "b/1", "b/2", "b/3", "b\xff", "c"}, false},
		{"prefix", ScanOptions{Prefix: []byte("b/")}, []string{"b/1", "b/2", "b/3"}, false},
		{"prefix_ff", ScanOptions{Prefix: []byte("b\xff")}, []string{"b\xff"}, false},
		{"limit", ScanOptions{Prefix: []byte("b/"), Limit: 2}, []string{"b/1", "b/2"}, false},
		{"offset", ScanOptions{Prefix: []byte("b/"), Offset: 1, Limit: 1}, []string{"b/2"}, false},
		{"offset_past_end", ScanOptions{Prefix: []byte("b/"), Offset: 9}, nil, false},
		{"after", ScanOptions{Prefix: []byte("b/"), After: []byte("b/1")}, []string{"b/2", "b/3"}, false},
		{"after_absent_key", ScanOptions{Prefix: []byte("b/"), After: []byte("b/15")}, []string{"b/2", "b/3"}, false},
		{"after_last", ScanOptions{Prefix: []byte("b/"), After: []byte("b/3")}, nil, false},
		{"cursor_outside_prefix", ScanOptions{Prefix: []byte("b/"), After: []byte("a")}, nil, true},
		{"no_match", ScanOptions{Prefix: []byte("zz")}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := s.Scan(Guest, tt.opts)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got := keysOf(rows); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("keys = %q, want %q", got, tt.want)
			}
			for _, r := range rows {
				if string(r.Value) != "v"+string(r.Key) {
					t.Fatalf("value of %q = %q", r.Key, r.Value)
				}
			}
		})
	}
	if _, err := s.Scan(Guest, ScanOptions{Prefix: []byte("b/"), MaxBytes: 10}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("MaxBytes 10 over 3 rows of 7 bytes: err = %v, want ErrTooLarge", err)
	}
	if rows, err := s.Scan(Guest, ScanOptions{Prefix: []byte("b/"), MaxBytes: 21}); err != nil || len(rows) != 3 {
		t.Fatalf("MaxBytes 21 (exact fit): %d rows, %v", len(rows), err)
	}
	rows, err := s.Scan(Guest, ScanOptions{Prefix: []byte("b/"), KeysOnly: true})
	if err != nil || len(rows) != 3 || rows[0].Value != nil {
		t.Fatalf("KeysOnly: %v %v", rows, err)
	}
}

func TestStore_BatchIsAtomicAndPersists(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(DefaultConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	b := s.NewBatch()
	b.Set(Guest, []byte("x"), []byte("1"))
	b.Set(CRDT, []byte("x"), []byte("2"))
	b.Delete(Guest, []byte("gone"))
	if b.Len() != 3 {
		t.Fatalf("Len = %d", b.Len())
	}
	if _, err := s.Commit(b); err != nil {
		t.Fatal(err)
	}
	discarded := s.NewBatch()
	discarded.Set(Guest, []byte("never"), []byte("1"))
	discarded.Discard()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(DefaultConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []struct {
		sp   Space
		k, v string
	}{{Guest, "x", "1"}, {CRDT, "x", "2"}} {
		if v, err := s.Get(c.sp, []byte(c.k)); err != nil || string(v) != c.v {
			t.Fatalf("after reopen Get(%c,%s) = %q, %v", c.sp, c.k, v, err)
		}
	}
	if ok, _ := s.Exists(Guest, []byte("never")); ok {
		t.Fatal("discarded batch was applied")
	}
}

func TestStore_DeleteRange(t *testing.T) {
	s := openTest(t, SyncInterval)
	for _, k := range []string{"a1", "a2", "a3", "b1"} {
		mustSet(t, s, OpLog, k, "v")
	}
	mustSet(t, s, Guest, "a2", "other space")
	b := s.NewBatch()
	b.DeleteRange(OpLog, []byte("a1"), []byte("a3"))
	if _, err := s.Commit(b); err != nil {
		t.Fatal(err)
	}
	rows, _ := s.Scan(OpLog, ScanOptions{})
	if got := fmt.Sprint(keysOf(rows)); got != "[a3 b1]" {
		t.Fatalf("after DeleteRange: %s", got)
	}
	if ok, _ := s.Exists(Guest, []byte("a2")); !ok {
		t.Fatal("DeleteRange crossed key spaces")
	}
}

func TestStore_OpenInUse(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(DefaultConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(DefaultConfig(dir)); !errors.Is(err, ErrInUse) {
		t.Fatalf("second Open err = %v, want ErrInUse", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(DefaultConfig(dir))
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s.Close()
}

func TestStore_UnknownFormatRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(DefaultConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Set(Meta, formatKey, []byte("99")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = Open(DefaultConfig(dir))
	var fe *FormatError
	if !errors.As(err, &fe) || fe.Version != "99" {
		t.Fatalf("Open err = %v, want FormatError version 99", err)
	}
}

func TestStore_CloseIsIdempotentAndFinal(t *testing.T) {
	s, err := Open(DefaultConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close = %v", err)
	}
	if _, err := s.Set(Guest, []byte("k"), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Set after Close = %v", err)
	}
	if _, err := s.Get(Guest, []byte("k")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close = %v", err)
	}
	if _, err := s.Scan(Guest, ScanOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Scan after Close = %v", err)
	}
}

func TestStore_WaitDurable(t *testing.T) {
	for _, mode := range []SyncMode{SyncAlways, SyncInterval} {
		t.Run(mode.String(), func(t *testing.T) {
			s := openTest(t, mode)
			n, err := s.Set(Guest, []byte("k"), []byte("v"))
			if err != nil {
				t.Fatal(err)
			}
			if mode == SyncAlways && s.DurableSeq() < n {
				t.Fatalf("always: write %d not durable on return (durable %d)", n, s.DurableSeq())
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := s.WaitDurable(ctx, n); err != nil {
				t.Fatalf("WaitDurable: %v", err)
			}
			if s.DurableSeq() < n {
				t.Fatalf("durable %d < %d", s.DurableSeq(), n)
			}
		})
	}
}

func TestStore_WaitDurableEndsOnClose(t *testing.T) {
	cfg := DefaultConfig(t.TempDir())
	cfg.SyncInterval = time.Hour // never ticks during the test
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := s.Set(Guest, []byte("k"), []byte("v"))
	done := make(chan error, 1)
	go func() { done <- s.WaitDurable(context.Background(), n+1) }()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("WaitDurable = %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitDurable did not return after Close")
	}
}

func TestParseSyncMode(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want SyncMode
		ok   bool
	}{{"always", SyncAlways, true}, {"interval", SyncInterval, true}, {"Always", 0, false}, {"", 0, false}} {
		got, err := ParseSyncMode(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("ParseSyncMode(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func TestConfig_Validate(t *testing.T) {
	if _, err := Open(Config{}); err == nil {
		t.Fatal("empty dir accepted")
	}
	if _, err := Open(Config{Dir: t.TempDir(), Sync: SyncInterval}); err == nil {
		t.Fatal("zero interval accepted")
	}
}

// In interval mode commits are grouped and applied to Pebble later
// (group.go); a read must still see every completed write, also while
// another goroutine is applying the group (a sync).
func TestStore_ReadsSeeGroupedWrites(t *testing.T) {
	cfg := DefaultConfig(t.TempDir())
	cfg.Sync = SyncInterval
	cfg.SyncInterval = time.Millisecond
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	done := make(chan struct{})
	syncs := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-done:
				syncs <- n
				return
			default:
			}
			if err := s.Sync(); err != nil {
				t.Error(err)
			}
			n++
		}
	}()
	const writes = 20_000
	for i := range writes {
		k := fmt.Appendf(nil, "k%06d", i)
		b := s.NewBatch()
		b.Set(Guest, k, k)
		b.Set(CRDT, k, k)
		if _, err := s.Commit(b); err != nil {
			t.Fatal(err)
		}
		v, err := s.Get(CRDT, k)
		if err != nil || !bytes.Equal(v, k) {
			t.Fatalf("write %d: read back %q, %v", i, v, err)
		}
		if i%1000 == 999 {
			rows, err := s.Scan(Guest, ScanOptions{KeysOnly: true})
			if err != nil || len(rows) != i+1 {
				t.Fatalf("after %d writes a scan found %d rows (%v)", i+1, len(rows), err)
			}
		}
	}
	close(done)
	t.Logf("%d writes read back during %d syncs", writes, <-syncs)
	n := s.WrittenSeq()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.WaitDurable(ctx, n); err != nil {
		t.Fatal(err)
	}
}

// A SetLatest write may be replaced by a later one before it reaches
// Pebble, but never reorders against other writes: every read, and the
// datastore after a reopen, sees the last write of each key, in either
// sync mode.
func TestStore_SetLatestKeepsWriteOrder(t *testing.T) {
	type step struct {
		op   string // "latest", "set", "delete", "range", "read"
		v    string
		want string // for read: "" means absent
	}
	for _, mode := range []SyncMode{SyncInterval, SyncAlways} {
		for _, tc := range []struct {
			name  string
			steps []step
		}{
			{"latest replaces latest", []step{{op: "latest", v: "1"}, {op: "latest", v: "2"}, {op: "read", want: "2"}}},
			{"set after latest", []step{{op: "latest", v: "1"}, {op: "set", v: "2"}, {op: "read", want: "2"}}},
			{"latest after set", []step{{op: "set", v: "1"}, {op: "latest", v: "2"}, {op: "read", want: "2"}}},
			{"delete after latest", []step{{op: "latest", v: "1"}, {op: "delete"}, {op: "read", want: ""}}},
			{"range after latest", []step{{op: "latest", v: "1"}, {op: "range"}, {op: "latest", v: "3"}, {op: "range"}, {op: "read", want: ""}}},
			{"latest after delete", []step{{op: "latest", v: "1"}, {op: "delete"}, {op: "latest", v: "4"}, {op: "read", want: "4"}}},
		} {
			t.Run(fmt.Sprintf("%v/%s", mode, tc.name), func(t *testing.T) {
				dir := t.TempDir()
				cfg := DefaultConfig(dir)
				cfg.Sync = mode
				s, err := Open(cfg)
				if err != nil {
					t.Fatal(err)
				}
				k := []byte("k")
				last := ""
				for _, st := range tc.steps {
					b := s.NewBatch()
					b.Set(Guest, []byte("other"), []byte(st.op)) // a write of its own in every batch
					switch st.op {
					case "latest":
						b.Discard()
						b = s.NewBatch()
						b.SetLatest(Vector, k, []byte(st.v))
					case "set":
						b.Set(Vector, k, []byte(st.v))
					case "delete":
						b.Delete(Vector, k)
					case "range":
						b.DeleteRange(Vector, []byte("a"), []byte("z"))
					case "read":
						b.Discard()
						v, err := s.Get(Vector, k)
						if got := string(v); (st.want == "" && !errors.Is(err, ErrNotFound)) || got != st.want {
							t.Fatalf("read %q (%v), want %q", got, err, st.want)
						}
						last = st.want
						continue
					}
					if _, err := s.Commit(b); err != nil {
						t.Fatal(err)
					}
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				if s, err = Open(cfg); err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if v, _ := s.Get(Vector, k); string(v) != last {
					t.Fatalf("after reopen %q, want %q", v, last)
				}
			})
		}
	}
}

// A point read sees every completed write whether or not it applies the
// pending group: a key the group writes (set, deleted, removed by a range,
// kept as a latest value, or a latest value moved into the group) reads
// its new value; a key it does not write is read without applying it.
func TestStore_PointReadsPastThePendingGroup(t *testing.T) {
	for _, tc := range []struct {
		name   string
		write  func(b *Batch)
		then   func(b *Batch) // a second commit, if set
		key    string
		want   string // "" means absent
		stayed bool   // the group is still pending after the read
	}{
		{name: "set", write: func(b *Batch) { b.Set(CRDT, []byte("k"), []byte("new")) }, key: "k", want: "new"},
		{name: "delete", write: func(b *Batch) { b.Delete(CRDT, []byte("k")) }, key: "k"},
		{name: "range", write: func(b *Batch) { b.DeleteRange(CRDT, []byte("j"), []byte("l")) }, key: "k"},
		{name: "latest kept", write: func(b *Batch) { b.SetLatest(CRDT, []byte("k"), []byte("latest")) }, key: "k", want: "latest"},
		{name: "latest with other writes", write: func(b *Batch) {
			b.Set(CRDT, []byte("other"), []byte("x"))
			b.SetLatest(CRDT, []byte("k"), []byte("latest"))
		}, key: "k", want: "latest"},
		{name: "latest moved by a later batch", write: func(b *Batch) { b.SetLatest(CRDT, []byte("k"), []byte("latest")) },
			then: func(b *Batch) { b.Set(CRDT, []byte("other"), []byte("x")) }, key: "k", want: "latest"},
		{name: "another key", write: func(b *Batch) { b.Set(CRDT, []byte("other"), []byte("x")) }, key: "k", want: "old", stayed: true},
		{name: "same key, other space", write: func(b *Batch) { b.Set(Guest, []byte("k"), []byte("x")) }, key: "k", want: "old", stayed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, SyncInterval)
			mustSet(t, s, CRDT, "k", "old")
			if err := s.Sync(); err != nil {
				t.Fatal(err)
			}
			b := s.NewBatch()
			tc.write(b)
			if _, err := s.Commit(b); err != nil {
				t.Fatal(err)
			}
			if tc.then != nil {
				b := s.NewBatch()
				tc.then(b)
				if _, err := s.Commit(b); err != nil {
					t.Fatal(err)
				}
			}
			v, err := s.Get(CRDT, []byte(tc.key))
			if got := string(v); got != tc.want || (tc.want == "" && !errors.Is(err, ErrNotFound)) {
				t.Fatalf("read %q (%v), want %q", got, err, tc.want)
			}
			if s.pending.Load() != tc.stayed {
				t.Fatalf("group pending after the read: %v, want %v", s.pending.Load(), tc.stayed)
			}
		})
	}
}
