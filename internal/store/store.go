package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Space is a key space: the first byte of every stored key.
type Space byte

// Key spaces. Guest keys and runtime keys never share a space.
const (
	// Guest holds the db_* keys of guests.
	Guest Space = 'g'
	// Meta holds the datastore's own records (format version, identity).
	Meta Space = 'm'
	// CRDT holds replicated CRDT state (issue 3).
	CRDT Space = 'c'
	// OpLog holds the op log (issue 3).
	OpLog Space = 'o'
	// Vector holds the version vector (issue 3).
	Vector Space = 'v'
	// View holds the views of large RGAs and Texts (internal/seqview):
	// derived from their CRDT records, deleted before those change.
	View Space = 'w'
)

const (
	formatVersion = "1"
	lockName      = "NUMAX.LOCK"
)

var formatKey = []byte("format_version")

// Row is one key/value pair returned by a scan. Key excludes the space byte.
type Row struct {
	Key, Value []byte
}

// Store is an open datastore. Its methods are safe for concurrent use.
type Store struct {
	cfg   Config
	db    *pebble.DB
	oplog *opLog // the op log, outside Pebble (oplog.go)
	lock  io.Closer
	log   *slog.Logger
	wopt  *pebble.WriteOptions

	// written numbers writes in completion order; durable is the highest
	// number known to be fsynced. See WaitDurable.
	written atomic.Uint64
	durable atomic.Uint64

	// life guards the Pebble handle's lifetime: every use holds it for
	// reading, Close takes it for writing, so no call can touch a closed
	// Pebble (which panics). closed is guarded by life.
	life   sync.RWMutex
	closed bool

	// mu guards durableCh, the channel closed and replaced each time
	// durable advances (or the store closes or fails).
	mu        sync.Mutex
	durableCh chan struct{}
	closing   atomic.Bool

	syncErr atomic.Pointer[error]
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	// Degraded state (space.go): degraded is why writes are refused (nil
	// when they are not); spaceChecked when a write last looked at the
	// free space, reminded when the last reminder was logged (UnixNano);
	// enospc that Pebble's last background error was ENOSPC.
	degraded     atomic.Pointer[DegradedError]
	spaceChecked atomic.Int64
	sinceCheck   atomic.Int64 // bytes committed since the last look
	reminded     atomic.Int64
	enospc       atomic.Bool
	stopSpace    chan struct{}
	// lost describes acknowledged writes this datastore lost (a write-ahead
	// log damaged in the middle), until ClearLostWrites.
	lost atomic.Pointer[[]byte]
	// failed is set by a fatal error in one of Pebble's goroutines.
	failed atomic.Pointer[FatalError]
	plog   pebbleLogger

	// group commit (group.go): pend holds the writes committed in interval
	// mode and not yet applied to Pebble, guarded by pmu; pending reports
	// that pend is not empty.
	group   bool
	pmu     sync.Mutex
	pend    *pebble.Batch
	pending atomic.Bool
	// spare is the batch the last group used, kept for the next
	// (groupBatch; guarded by pmu).
	spare *pebble.Batch
	// lat holds the group's SetLatest values not yet in pend (latest.go),
	// latBytes their size.
	lat      map[string]*[]byte
	latBytes int
	// pendKeys has a bit set for the hash of every key of pend's first
	// pendScanned bytes of records; pendRange says they remove a range
	// (pending.go).
	pendKeys    *[pendBits / 64]uint64
	pendScanned int
	pendRange   bool
}

var lostKey = []byte("lost_writes")

// LostWrites describes the acknowledged writes this datastore lost, found
// when it was opened (now or at an earlier open not yet cleared), or "".
// The node then takes its own ops back from peers before writing.
func (s *Store) LostWrites() string {
	if p := s.lost.Load(); p != nil {
		return string(*p)
	}
	return ""
}

// ClearLostWrites records that what was lost is dealt with.
func (s *Store) ClearLostWrites() error {
	if _, err := s.Delete(Meta, lostKey); err != nil {
		return err
	}
	s.lost.Store(nil)
	return nil
}

// Open opens or creates the datastore in cfg.Dir. A datastore held by another
// process gives ErrInUse; one of an unknown format a *FormatError.
func Open(cfg Config) (*Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.ReadOnly {
		if _, err := os.Stat(filepath.Join(cfg.Dir, "pebble")); err != nil {
			return nil, fmt.Errorf("open datastore %s: no datastore there", cfg.Dir)
		}
	} else if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create datastore %s: %w", cfg.Dir, err)
	}
	// Our own lock, taken before Pebble's, so "in use" is told apart from
	// every other way Open can fail.
	lock, err := lockFile(filepath.Join(cfg.Dir, lockName))
	if err != nil {
		return nil, fmt.Errorf("open datastore %s: %w", cfg.Dir, ErrInUse)
	}
	s := &Store{cfg: cfg, lock: lock, log: log, durableCh: make(chan struct{})}
	// Logs damaged in the middle lose acknowledged writes, and Pebble
	// replays them only up to the damage: look first, while they exist.
	var lost []string
	if !cfg.ReadOnly {
		if lost, err = salvageLogs(cfg.Dir); err != nil {
			_ = lock.Close()
			return nil, err
		}
	}
	listener := s.listener()
	s.plog = newPebbleLogger(log, s.fail)
	opts := &pebble.Options{
		EventListener:      &listener,
		Logger:             s.plog,
		FormatMajorVersion: pebble.FormatNewest,
		ReadOnly:           cfg.ReadOnly,
		FS:                 pebbleFS(),
		// The node reads its CRDT state from memory; the store is written
		// far more than read (state, op log, guest keys). Every L0 ->
		// base-level compaction rewrites the base-level files the new op
		// log entries of every origin overlap, so fewer, larger ones cost
		// less: at the default threshold (4) compactions were 37 % of a
		// sync-3 node's CPU, at 16 they are 13-18 % (nx bench sync-3
		// --node-profiles; 39.9 k -> 44.5-49 k ops/s per node). Reads
		// (guest db_get, serving pulls) may consult more L0 files.
		L0CompactionThreshold: 16,
		L0StopWritesThreshold: 40,
	}
	// Pebble's balanced profile: the fastest compression where files
	// are rewritten soon, zstd (pure Go without cgo) in the bottom levels
	// where compaction leaves most of the data: CRDT records (a Text's
	// runs, a map's fields) compress far better there.
	opts.ApplyCompressionSettings(func() pebble.DBCompressionSettings { return pebble.DBCompressionBalanced })
	db, err := pebble.Open(filepath.Join(cfg.Dir, "pebble"), opts)
	if err != nil {
		_ = lock.Close()
		return nil, fmt.Errorf("open datastore %s: %w", cfg.Dir, err)
	}
	s.db = db
	s.wopt = pebble.NoSync
	if cfg.Sync == SyncAlways {
		s.wopt = pebble.Sync
	}
	s.group = cfg.Sync == SyncInterval && !cfg.ReadOnly
	if err := s.checkFormat(); err != nil {
		_ = db.Close()
		_ = lock.Close()
		return nil, err
	}
	if s.oplog, err = openLog(cfg.Dir, cfg.ReadOnly); err != nil {
		_ = db.Close()
		_ = lock.Close()
		return nil, fmt.Errorf("open datastore %s: %w", cfg.Dir, err)
	}
	if len(lost) > 0 {
		msg := strings.Join(lost, "; ")
		log.Error("datastore lost acknowledged writes", "damage", msg)
		if err := db.Set(key(Meta, lostKey), []byte(msg), pebble.Sync); err != nil {
			_ = db.Close()
			_ = lock.Close()
			return nil, fmt.Errorf("record the lost writes: %w", err)
		}
	}
	if v, err := s.Get(Meta, lostKey); err == nil {
		s.lost.Store(&v)
	}
	if !cfg.ReadOnly {
		s.checkSpace()
		s.stopSpace = make(chan struct{})
		s.wg.Add(1)
		go s.spaceLoop(s.stopSpace)
	}
	if cfg.Sync == SyncInterval && !cfg.ReadOnly {
		ctx, cancel := context.WithCancel(context.Background())
		s.cancel = cancel
		s.wg.Add(1)
		go s.syncLoop(ctx)
	}
	return s, nil
}

// checkFormat stamps a new datastore with formatVersion and refuses any other.
func (s *Store) checkFormat() error {
	v, err := s.Get(Meta, formatKey)
	switch {
	case errors.Is(err, ErrNotFound) && s.cfg.ReadOnly:
		return fmt.Errorf("datastore %s has no format version: not a Numax datastore", s.cfg.Dir)
	case errors.Is(err, ErrNotFound):
		return s.db.Set(key(Meta, formatKey), []byte(formatVersion), pebble.Sync)
	case err != nil:
		return fmt.Errorf("read datastore format: %w", err)
	case string(v) != formatVersion:
		return &FormatError{Dir: s.cfg.Dir, Version: string(v)}
	}
	return nil
}

// Dir returns the datastore directory.
func (s *Store) Dir() string { return s.cfg.Dir }

// SyncMode returns the durability mode in force.
func (s *Store) SyncMode() SyncMode { return s.cfg.Sync }

func key(sp Space, k []byte) []byte {
	b := make([]byte, 1+len(k))
	b[0] = byte(sp)
	copy(b[1:], k)
	return b
}

// acquire pins the Pebble handle open until release; it fails after Close
// and after a fatal error in one of Pebble's goroutines.
func (s *Store) acquire() error {
	s.life.RLock()
	if s.closed {
		s.life.RUnlock()
		return ErrClosed
	}
	if f := s.failed.Load(); f != nil {
		s.life.RUnlock()
		return f
	}
	return nil
}

// fail marks the store failed after a fatal error in one of Pebble's own
// goroutines: every later call returns it, until a restart.
func (s *Store) fail(msg string) {
	f := &FatalError{Msg: msg}
	if s.failed.CompareAndSwap(nil, f) {
		s.log.Error("datastore failed: every read and write fails until the node restarts", "err", f.Error())
		s.wake()
	}
}

func (s *Store) release() { s.life.RUnlock() }

// wake closes and replaces durableCh so every WaitDurable re-checks.
func (s *Store) wake() {
	s.mu.Lock()
	close(s.durableCh)
	s.durableCh = make(chan struct{})
	s.mu.Unlock()
}

// Get returns a copy of the value of k in sp, or ErrNotFound.
func (s *Store) Get(sp Space, k []byte) (_ []byte, err error) {
	defer recoverFatal(&err)
	kk := key(sp, k)
	if err := s.acquireReadKey(kk); err != nil {
		return nil, err
	}
	defer s.release()
	v, closer, err := s.db.Get(kk)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	out := bytes.Clone(v)
	if out == nil {
		out = []byte{}
	}
	return out, closer.Close()
}

// Exists reports whether k is present in sp.
func (s *Store) Exists(sp Space, k []byte) (bool, error) {
	_, err := s.Get(sp, k)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Set writes k = v in sp with the configured durability and returns the
// write's number for WaitDurable.
func (s *Store) Set(sp Space, k, v []byte) (uint64, error) {
	b := s.NewBatch()
	b.Set(sp, k, v)
	return s.Commit(b)
}

// Delete removes k from sp (absent keys are not an error).
func (s *Store) Delete(sp Space, k []byte) (uint64, error) {
	b := s.NewBatch()
	b.Delete(sp, k)
	return s.Commit(b)
}

// Batch is a set of writes committed atomically: after a crash either all of
// it is present or none of it.
type Batch struct {
	b *pebble.Batch
	// lb holds the batch's op-log records (oplog_api.go), lat its
	// SetLatest writes (latest.go).
	lb  *logBuf
	lat *latBuf
}

// NewBatch returns an empty batch; Commit or Discard it.
func (s *Store) NewBatch() *Batch { return &Batch{b: s.db.NewBatch()} }

// Set adds k = v in sp to the batch.
func (b *Batch) Set(sp Space, k, v []byte) {
	// Written in place (no key copy made first); it cannot fail on a
	// non-indexed batch.
	op := b.b.SetDeferred(1+len(k), len(v))
	op.Key[0] = byte(sp)
	copy(op.Key[1:], k)
	copy(op.Value, v)
	_ = op.Finish()
}

// Delete adds the removal of k in sp to the batch.
func (b *Batch) Delete(sp Space, k []byte) {
	op := b.b.DeleteDeferred(1 + len(k))
	op.Key[0] = byte(sp)
	copy(op.Key[1:], k)
	_ = op.Finish()
}

// DeleteRange adds the removal of every key k of sp with start <= k < end.
func (b *Batch) DeleteRange(sp Space, start, end []byte) {
	_ = b.b.DeleteRange(key(sp, start), key(sp, end), nil)
}

// Len returns the number of writes in the batch.
func (b *Batch) Len() int {
	if b.b == nil { // committed into the pending group
		return 0
	}
	_, recs := b.logRecords()
	n := int(b.b.Count()) + len(recs)
	if b.lat != nil {
		n += len(b.lat.ends) / 2
	}
	return n
}

// Discard releases a batch that will not be committed.
func (b *Batch) Discard() {
	if b.b != nil {
		_ = b.b.Close()
		b.b = nil
	}
	b.releaseLog()
	b.releaseLatest()
}

// Commit applies b atomically with the configured durability and returns
// the write's number. In SyncAlways mode the write is durable on return.
// A degraded store refuses it with a *DegradedError.
func (s *Store) Commit(b *Batch) (uint64, error) {
	if err := s.CheckWritable(); err != nil {
		b.Discard()
		return 0, err
	}
	return s.CommitUnchecked(b)
}

// CommitUnchecked is Commit without the degraded check, for a caller that
// made it (CheckWritable) before changing its memory: a store that
// degrades in between still takes the write (min_free_space keeps room).
func (s *Store) CommitUnchecked(b *Batch) (_ uint64, err error) {
	defer recoverFatal(&err)
	defer b.Discard()
	if s.cfg.ReadOnly {
		return 0, errors.New("store: datastore opened read-only")
	}
	if err := s.acquire(); err != nil {
		return 0, err
	}
	defer s.release()
	lg, recs := b.logRecords()
	s.sinceCheck.Add(int64(b.b.Len() + len(lg)))
	if b.lat != nil {
		s.sinceCheck.Add(int64(len(b.lat.buf)))
	}
	if s.group {
		return s.deferCommit(b)
	}
	// The log's records go first, and are durable before the Pebble
	// writes they go with (oplog.go).
	an, err := s.oplog.append(lg, recs)
	if err == nil && len(recs) > 0 {
		err = s.oplog.flush()
	}
	if err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	var logSynced chan error
	if len(recs) > 0 && s.cfg.Sync == SyncAlways {
		// Written ahead of Pebble's WAL, fsynced alongside it: a commit
		// waits for one fsync's time, not two. A power loss between the
		// two can leave Pebble's write without the log's; ReconcileLog
		// then drops that origin's log (peers take a snapshot).
		logSynced = make(chan error, 1)
		go func() { logSynced <- s.oplog.syncTo(an) }()
	}
	b.latestInto()
	err = s.db.Apply(b.b, s.wopt)
	if logSynced != nil {
		err = errors.Join(err, <-logSynced)
	}
	if err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	// Numbered after Apply returns: every write numbered <= n is in the WAL
	// ahead of any WAL sync that starts after this point.
	n := s.written.Add(1)
	if s.cfg.Sync == SyncAlways {
		s.advanceDurable(n)
	}
	return n, nil
}

// DurableSeq returns the highest write number known to be on disk.
func (s *Store) DurableSeq() uint64 { return s.durable.Load() }

// WrittenSeq returns the number of the last completed write.
func (s *Store) WrittenSeq() uint64 { return s.written.Load() }

// WaitDurable blocks until write n is on disk, ctx ends or the store closes.
func (s *Store) WaitDurable(ctx context.Context, n uint64) error {
	for {
		s.mu.Lock()
		ch := s.durableCh
		s.mu.Unlock()
		if s.durable.Load() >= n {
			return nil
		}
		if p := s.syncErr.Load(); p != nil {
			return *p
		}
		if f := s.failed.Load(); f != nil {
			return f
		}
		if s.closing.Load() {
			return ErrClosed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *Store) advanceDurable(n uint64) {
	for {
		cur := s.durable.Load()
		if n <= cur {
			return
		}
		if s.durable.CompareAndSwap(cur, n) {
			break
		}
	}
	s.wake()
}

// Sync makes every completed write durable now.
func (s *Store) Sync() (err error) {
	defer recoverFatal(&err)
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	return s.syncLocked()
}

func (s *Store) syncLocked() error {
	target, err := s.applyPending()
	if err != nil {
		return err
	}
	if s.durable.Load() >= target {
		return nil
	}
	// The op log first: what Pebble holds durably, the log holds too.
	if err := s.oplog.sync(); err != nil {
		return err
	}
	// An empty LogData with Sync fsyncs the WAL, covering every record
	// queued before it, i.e. every write numbered <= target.
	if err := s.db.LogData(nil, pebble.Sync); err != nil {
		return fmt.Errorf("sync wal: %w", err)
	}
	s.advanceDurable(target)
	return nil
}

func (s *Store) syncLoop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Sync(); err != nil && !errors.Is(err, ErrClosed) {
				// A failed fsync cannot be retried safely (the kernel may
				// have dropped the dirty pages); writers and waiters see
				// the error from now on.
				s.log.Error("datastore fsync failed; writes are no longer durable", "err", err)
				s.syncErr.Store(&err)
				s.wake()
				return
			}
		}
	}
}

// closeDB closes Pebble. After a read met corruption, Pebble may still
// count references the failed read held and panic here: that becomes an
// error too, the datastore's files are left as they are.
func (s *Store) closeDB() (err error) {
	if f := s.failed.Load(); f != nil {
		// A goroutine of Pebble's ended mid-work: its locks and waits may
		// never be released. The files stay as they are for the restart.
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			if f, ok := r.(fatal); ok {
				err = &FatalError{Msg: f.msg}
				return
			}
			err = fmt.Errorf("pebble: %v", r)
		}
	}()
	return s.db.Close()
}

// Close syncs every completed write and closes the datastore. A second Close
// returns ErrClosed.
func (s *Store) Close() error {
	if s.closing.Swap(true) {
		return ErrClosed
	}
	if s.cancel != nil {
		s.cancel()
	}
	if s.stopSpace != nil {
		close(s.stopSpace)
	}
	s.wg.Wait()
	s.life.Lock()
	var syncErr error
	if !s.cfg.ReadOnly {
		syncErr = s.syncLocked()
	}
	s.closed = true
	s.pmu.Lock()
	if s.spare != nil {
		s.spare.Close()
		s.spare = nil
	}
	s.pmu.Unlock()
	s.oplog.close()
	err := errors.Join(syncErr, s.closeDB(), s.lock.Close())
	s.life.Unlock()
	s.wake()
	if err != nil {
		return fmt.Errorf("close datastore %s: %w", s.cfg.Dir, err)
	}
	return nil
}
