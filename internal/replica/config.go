package replica

import (
	"errors"
	"log/slog"
	"math/bits"
	"time"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/defaults"
	"github.com/numax/numax/internal/store"
)

// Config configures a Replica. Zero fields take the defaults of
// DefaultConfig.
type Config struct {
	// Store is the node's datastore. Required.
	Store *store.Store
	// Logger receives the replica's lines.
	Logger *slog.Logger
	// NodeID is the identity to run under (derived from the TLS
	// certificate); "" loads the stored one or generates one.
	NodeID string
	// AdoptIdentity lets a datastore written under another NodeId be taken
	// over by NodeID.
	AdoptIdentity bool
	// Transport sends to peers; nil runs without peers.
	Transport Transport
	// QueueLimit bounds the outbound queue (limits.queued_ops_limit).
	QueueLimit int
	// BatchSize and BatchDelay bound an outbound batch: up to BatchSize
	// ops, waiting at most BatchDelay for more.
	BatchSize  int
	BatchDelay time.Duration
	// OpLogLimit bounds the op log (limits.op_log_limit); past it the
	// oldest entries go and peers that need them get a snapshot.
	OpLogLimit int
	// AntiEntropyInterval is how often every connected peer is asked for
	// what this node lacks (0 = never on a timer).
	AntiEntropyInterval time.Duration
	// LazyInterval is how often a node tells the peers its relay tree made
	// lazy what it relayed meanwhile (tree.go). Default 100 ms.
	LazyInterval time.Duration
	// RelayDelay is how long a relay waits before it is sent, so that
	// peers' acknowledgements can show they already hold the op (then it
	// is not sent to them). Default 50 ms.
	RelayDelay time.Duration
	// GapPullDelay is how long a gap may stay open (an op held because an
	// earlier one of its origin is missing) before the peer that sent the
	// held op, which holds every earlier one, is asked for what this node
	// lacks. Ops taking different paths arrive out of order; the delay lets
	// the missing one arrive by its own path first. For an origin this
	// node is linked to, whose own ordered pushes close the gap, ten times
	// that. Default 200 ms.
	GapPullDelay time.Duration
	// RandomPullInterval is how often one connected peer, chosen at
	// random, is asked for what this node lacks (0 = off): a backstop
	// for ops that neither the relay tree nor its announcements brought.
	RandomPullInterval time.Duration
	// MaxPending bounds each origin's gap buffer.
	MaxPending int
	// MaxClockOffset is how far ahead of this node's wall clock an op's
	// timestamp may be: a later op is held, not applied, and does not move
	// the clock until the wall clock catches up (default 60 s).
	MaxClockOffset time.Duration
	// MaxHeld bounds the ops held for their timestamps, in all (default
	// 4096); past it they are dropped and come again by anti-entropy.
	MaxHeld int
	// OnClockSkew, if set, is told how far ahead of this node's clock a
	// peer's op was when it was held.
	OnClockSkew func(peer string, ahead time.Duration)
	// ServeRate bounds, per peer, the bytes of op-log answers and
	// snapshots this node sends in answer to PullSince, per second (default
	// 16 MiB): one peer cannot make it stream its state in a loop. An
	// answer is sent while the peer's budget is positive and then charged in
	// full, so one large catch-up still goes out at once.
	ServeRate int64
	// MaxOrigins bounds the origins this node keeps a version-vector entry
	// for (default 4096): ops or a snapshot that would add more are refused,
	// and a peer's claims about origins this node does not know are not
	// stored.
	MaxOrigins int
	// AllowedOrigin, if set, reports whether a NodeId may have made ops (the
	// allowlist): ops or snapshot entries of any other origin are refused.
	AllowedOrigin func(nodeID string) bool
	// MaxKey and MaxValue are the guest limits remote ops must obey too
	// (keys, fields and elements; values); 0 checks nothing.
	MaxKey, MaxValue int
	// OnViolation, if set, is called when a peer sends what it may not
	// (the link is closed and the reason logged): kind names the rule.
	OnViolation func(peer, kind string)
	// Wall returns Unix milliseconds (time.Now if nil).
	Wall func() int64
	// OnRemoteApply, if set, is called with the remote ops of each batch
	// once they are applied and committed (for replication-lag
	// measurement). It must not block.
	OnRemoteApply func(ops []*crdt.Op)
	// OnChanged, if set, is called with the objects a committed change
	// touched: a local write, an applied remote batch, or a snapshot. It is
	// called outside the replica's lock and must not block (it feeds the
	// on_change trigger of service modules); keys is valid only during the
	// call.
	OnChanged func(keys []crdt.ObjKey)
	// OnBatchApplied, if set, is called after each PushOps batch with how
	// long applying and committing it took (for metrics).
	OnBatchApplied func(d time.Duration)
	// Auth, if set (with TLS), signs this node's ops and proves every
	// remote op against its origin's certificate before applying it.
	Auth *Auth
	// MemberExpiry is how long a member unheard from holds tombstone
	// collection back (limits.member_expiry; default 7 days).
	MemberExpiry time.Duration
	// MembershipSize, if set, is how many nodes the membership has, this
	// one included (discovery): tombstones wait while fewer are known.
	MembershipSize func() int
	// CRDTCache bounds the memory of the map and set elements held in
	// memory ([storage] crdt_cache; default 64 MiB): maps and sets are read
	// from the store on demand.
	CRDTCache int64

	// viewMin is the memory from which a sequence leaves a view (0:
	// viewMinBytes; tests lower it).
	viewMin int64
}

// Defaults of the clock guard.
const (
	DefaultMaxClockOffset = defaults.MaxClockOffset
	DefaultMaxHeld        = 4096
	DefaultServeRate      = defaults.PullAnswerRate
	DefaultMaxOrigins     = 4096
)

// DefaultFanout is K = ceil(log2(N)) + 1 for a cluster of n nodes: enough
// random pushes per hop that a rumor reaches all n with high probability.
func DefaultFanout(n int) int {
	if n <= 1 {
		return 1
	}
	return bits.Len(uint(n-1)) + 1
}

// DefaultConfig returns the defaults of docs/crdt.md and the whitepaper.
func DefaultConfig() Config {
	return Config{
		QueueLimit: defaults.QueuedOpsLimit, BatchSize: 1024, BatchDelay: time.Millisecond, RelayDelay: 50 * time.Millisecond,
		LazyInterval: 100 * time.Millisecond, GapPullDelay: 200 * time.Millisecond,
		OpLogLimit: defaults.OpLogLimit, AntiEntropyInterval: defaults.AntiEntropyInterval, MaxPending: crdt.DefaultMaxPending,
	}
}

func (c *Config) fill() error {
	if c.Store == nil {
		return errors.New("replica: Config.Store is required")
	}
	d := DefaultConfig()
	if c.QueueLimit <= 0 {
		c.QueueLimit = d.QueueLimit
	}
	if c.BatchSize <= 0 {
		c.BatchSize = d.BatchSize
	}
	if c.BatchDelay <= 0 {
		c.BatchDelay = d.BatchDelay
	}
	if c.RelayDelay <= 0 {
		c.RelayDelay = d.RelayDelay
	}
	if c.LazyInterval <= 0 {
		c.LazyInterval = d.LazyInterval
	}
	if c.GapPullDelay <= 0 {
		c.GapPullDelay = d.GapPullDelay
	}
	if c.OpLogLimit <= 0 {
		c.OpLogLimit = d.OpLogLimit
	}
	if c.MaxPending <= 0 {
		c.MaxPending = d.MaxPending
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Wall == nil {
		c.Wall = func() int64 { return time.Now().UnixMilli() }
	}
	if c.MaxClockOffset <= 0 {
		c.MaxClockOffset = DefaultMaxClockOffset
	}
	if c.MaxHeld <= 0 {
		c.MaxHeld = DefaultMaxHeld
	}
	if c.ServeRate <= 0 {
		c.ServeRate = DefaultServeRate
	}
	if c.MaxOrigins <= 0 {
		c.MaxOrigins = DefaultMaxOrigins
	}
	if c.CRDTCache <= 0 {
		c.CRDTCache = DefaultCRDTCache
	}
	if c.MemberExpiry <= 0 {
		c.MemberExpiry = DefaultMemberExpiry
	}
	if c.Auth != nil && c.Auth.SignEvery <= 0 {
		a := *c.Auth
		a.SignEvery = DefaultSignEvery
		c.Auth = &a
	}
	return nil
}
