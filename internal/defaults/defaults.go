// Package defaults is the one place the node's default settings are written
// down (the guest-facing limits are abi.DefaultLimits, beside the ABI they
// bound). numax.DefaultConfig, the file configuration's config.Default (and
// so the template `nx config init` writes, which a test holds equal to it),
// and each component's own DefaultConfig (store, engine, replica, transport,
// gossip) read their values from here, in the manner of memberlist's
// DefaultLANConfig. docs/configuration.md lists them for users.
package defaults

import "time"

// Storage.
const (
	// DatastorePath is the node's data directory.
	DatastorePath = "./nx-data"
	// SyncInterval is the longest an acknowledged write stays unsynced in
	// interval mode.
	SyncInterval = 10 * time.Millisecond
	// MinFreeSpace is the free space the datastore's filesystem keeps:
	// below it writes are refused (-3) until a quarter more is free.
	MinFreeSpace = 64 << 20
)

// Guest execution.
const (
	// GuestMemory caps a guest's linear memory.
	GuestMemory = 256 << 20
	// GuestTimeout bounds one invocation's wall time.
	GuestTimeout = 30 * time.Second
)

// Replication.
const (
	// QueuedOpsLimit bounds the outbound op queue.
	QueuedOpsLimit = 10000
	// OpLogLimit bounds the op log; past it the oldest entries go and peers
	// that need them get a snapshot.
	OpLogLimit = 10000
	// SeenOpsLimit is accepted for compatibility and has no effect.
	SeenOpsLimit = 100000
	// AntiEntropyInterval is how often every peer is asked for what this
	// node lacks.
	AntiEntropyInterval = 30 * time.Second
	// MaxClockOffset is how far ahead of this node's wall clock a remote
	// op's timestamp may be before the op is held.
	MaxClockOffset = 60 * time.Second
	// MemberExpiry is how long a member unheard from holds tombstone
	// collection back (limits.member_expiry).
	MemberExpiry = 7 * 24 * time.Hour
	// CRDTCache bounds the memory of map and set elements held in memory
	// (storage.crdt_cache).
	CRDTCache = 64 << 20
	// MemoryBudget is a node's resident memory target (limits.memory_budget,
	// internal/membudget): sync-3 and sync-10 nodes at full load peak at
	// 97 MB with it, 112-116 MB without.
	MemoryBudget = 96 << 20
	// PullAnswerRate bounds, per peer, the bytes per second of answers to
	// its pulls (op-log spans and snapshots).
	PullAnswerRate = 16 << 20
	// ShutdownTimeout bounds how long a closing node sends queued ops.
	ShutdownTimeout = 30 * time.Second
)

// Transport.
const (
	// MaxMessageSize bounds one frame.
	MaxMessageSize = 16 << 20
	// SocketTimeout bounds a handshake and an idle link.
	SocketTimeout = 30 * time.Second
	// ReconnectInitial and ReconnectMax bound redial backoff.
	ReconnectInitial = 500 * time.Millisecond
	ReconnectMax     = 30 * time.Second
	// PeerDeadAfter is how many failed dials mark a peer dead.
	PeerDeadAfter = 3
	// MaxPeers bounds the links of one node.
	MaxPeers = 64
)

// Discovery.
const (
	// DiscoveryMode is how a node finds peers: its configured addresses.
	DiscoveryMode = "static"
	// ProbeInterval is the SWIM failure-detection period in gossip mode.
	ProbeInterval = 300 * time.Millisecond
	// PullInterval is how often one random peer is asked for what this
	// node lacks.
	PullInterval = 2 * time.Second
)

// Observability.
const (
	LogLevel  = "info"
	LogFormat = "text"
	// RequestTimeout bounds one request to /health, /ready or /metrics.
	RequestTimeout = 5 * time.Second
	// SerializationFormat is the wire encoding ("binary" or "json").
	SerializationFormat = "binary"
)

// Serving (docs/serving.md).
const (
	// ServeQueue bounds the requests waiting for an instance.
	ServeQueue = 1024
	// ServeMaxBody bounds a request body.
	ServeMaxBody = 1 << 20
	// ServeEventRing is how many events /_nx/events keeps for reconnects.
	ServeEventRing = 4096
)
