package config

// Template is what `nx config init` writes: every key with its default,
// commented. It validates as is (a node without sync).
const Template = `# Numax node configuration. Every value below is the default.
# Precedence: command-line flags > NX_* environment variables > this file > defaults.
# Durations use Go syntax ("500ms", "30s", "1h30m"); sizes accept "16MiB", "512KiB" or bytes.

[storage]
# Data directory (NX_DATASTORE_PATH).
datastore_path = "./nx-data"
# "interval": a write returns at once and is fsynced within sync_interval.
# "always":   a write returns after the fsync that covers it.
sync = "interval"
sync_interval = "10ms"
# Compiled modules kept across runs ("" = the user cache directory).
compile_cache = ""
# Free space the datastore's filesystem keeps: below it writes fail (-3),
# /ready answers 503 and numax_store_degraded{reason="disk_full"} is 1, until
# a quarter more is free again. 0 turns the check off.
min_free_space = "64MiB"
crdt_cache = "64MiB"

[network]
# Accept peers here; setting it enables sync (NX_LISTEN). Example: "0.0.0.0:9000".
listen = ""
# Peers to dial (NX_PEERS, comma-separated).
peers = []
# "binary" (protobuf) or "json" (readable frames for debugging).
serialization_format = "binary"

[tls]
# This node's certificate and key, and the cluster CA (make them with nx cert).
cert = ""
key = ""
ca = ""
# Only these NodeIds may connect (needs ca). nx cert id CERT prints a NodeId.
allowed_peers = []
# Plain TCP without TLS: for local development only.
insecure = false
# Take over a datastore written under another NodeId.
adopt_identity = false

[limits]
max_peers = 64
queued_ops_limit = 10000
op_log_limit = 10000
# Accepted for compatibility; it has no effect (duplicate detection is exact).
seen_ops_limit = 100000
max_message_size = "16MiB"
socket_timeout_secs = 30
reconnect_initial_delay = "500ms"
reconnect_max_delay = "30s"
peer_dead_after_failures = 3
anti_entropy_interval = "30s"
# A remote op stamped further ahead of this node's clock is held until the
# clock catches up (a broken clock or a hostile peer cannot move time).
max_clock_offset = "1m0s"
member_expiry = "168h0m0s"
# The node's resident memory target: the Go runtime's soft memory limit is
# set to it minus 32MiB (the executable and compiled guest code); "0" = none.
# It bounds garbage, not data: a node holding more is warned, not slowed.
memory_budget = "96MiB"
# Bytes per second of answers to one peer's pulls (op-log spans, snapshots).
pull_answer_rate = "16MiB"
# Guest limits (docs/host-abi.md).
guest_memory = "256MiB"
# One invocation's wall time; "0s" turns the limit off (and its cost).
guest_timeout = "30s"
max_key_size = "8KiB"
max_value_size = "1MiB"
max_output_size = "10MiB"
max_scan_limit = 1024
max_log_message_size = "64KiB"
max_random_size = "1MiB"
max_event_name_size = 128
max_event_payload_size = "64KiB"

[observability]
# Serve /metrics, /health, /ready and the node status page here ("" = off;
# NX_OBSERVABILITY_LISTEN).
listen = ""
log_level = "info"
log_format = "text"
request_timeout_secs = 5
# Required by the node status page (GET /) and its API (/api/v1/), as
# "Authorization: Bearer TOKEN" or ?token=TOKEN (NX_OBSERVABILITY_TOKEN).
# Without a token, listen must be a loopback address.
token = ""

[discovery]
# "static": network.peers. "gossip": join through any seed and learn every
# member (memberlist over the same TLS identity). "file": the addresses in
# peers_file, re-read when it changes.
mode = "static"
# Gossip address (mode "gossip"; --gossip-listen).
listen = ""
# Gossip addresses to join through (mode "gossip"; --seed).
seeds = []
# One op-link address per line (mode "file"; --peers-file).
peers_file = ""
# K: members a node dials in gossip mode when links is 0 (0 = ceil(log2(N)) + 1).
fanout = 0
# Members a node dials in gossip mode (0 = the fanout).
links = 0
# SWIM failure-detection period.
probe_interval = "300ms"
# How often one random peer is asked for what this node lacks (0 = off).
pull_interval = "2s"

[serve]
# Serving a service module (docs/serving.md). HTTP listener ("" = none;
# --http, NX_HTTP_LISTEN). Plain HTTP unless tls_cert and tls_key are set.
http_listen = ""
tls_cert = ""
tls_key = ""
# Guest instances in the pool (0 = one per CPU; NX_SERVE_INSTANCES).
instances = 0
# Requests waiting for an instance; beyond it, 503.
queue = 1024
# on_tick period ("0s" = never).
tick_interval = "0s"
# Largest request body; beyond it, 413 and the guest is not called.
max_body = "1MiB"
# Events /_nx/events keeps for clients that reconnect.
event_ring = 4096
# Hosts http_fetch may reach: "host" (any port) or "host:port".
fetch_allow = []
`
