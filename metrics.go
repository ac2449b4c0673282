package numax

import (
	"errors"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/numax/numax/internal/engine"
	"github.com/numax/numax/internal/gossip"
	"github.com/numax/numax/internal/hostapi"
	"github.com/numax/numax/internal/replica"
	"github.com/numax/numax/internal/store"
	"github.com/numax/numax/internal/transport"
)

// maxEventLabels bounds the distinct event names in numax_guest_events_total;
// later names are counted under "other".
const maxEventLabels = 64

// metrics are the node's Prometheus metrics (docs/configuration.md).
type metrics struct {
	reg         *prometheus.Registry
	invocations *prometheus.CounterVec
	compile     prometheus.Histogram
	execution   prometheus.Histogram
	batchApply  prometheus.Histogram
	delay       prometheus.Histogram
	events      *prometheus.CounterVec
	skew        *prometheus.GaugeVec
	violations  *prometheus.CounterVec

	// mu guards eventNames and the store-size cache.
	mu         sync.Mutex
	eventNames map[string]bool
	keysAt     time.Time
	keys       int
}

// delayBuckets are the upper bounds of numax_replication_delay_seconds:
// fine below 50 ms, where the latency targets are.
var delayBuckets = []float64{0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.0175, 0.02, 0.025, 0.03,
	0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), eventNames: map[string]bool{}}
	m.invocations = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "numax_wasm_invocations_total",
		Help: "Guest invocations by outcome."}, []string{"module", "status"})
	m.compile = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "numax_wasm_compile_duration_seconds",
		Help: "Module compile time (short when served from the cache).", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10)})
	m.execution = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "numax_wasm_execution_duration_seconds",
		Help: "Guest invocation wall time.", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 12)})
	m.batchApply = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "numax_remote_op_batch_apply_duration_seconds",
		Help: "Time to apply and commit one PushOps batch.", Buckets: prometheus.ExponentialBuckets(0.00005, 4, 10)})
	// Beyond the spec's list (docs/configuration.md has it): how long after its creation on the origin (the
	// HLC's wall milliseconds) a remote op was applied here. Across hosts it
	// includes their clock skew; on one host it is the replication delay.
	m.delay = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "numax_replication_delay_seconds",
		Help:    "Time from an op's creation on its origin (HLC wall time, ms resolution) to its apply on this node.",
		Buckets: delayBuckets})
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "numax_guest_events_total",
		Help: "Guest event_emit calls by event name (at most 64 names, then \"other\")."}, []string{"event"})
	m.skew = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "numax_clock_skew_seconds",
		Help: "How far ahead of this node's clock the peer's last held op was (ops beyond limits.max_clock_offset are held)."}, []string{"peer"})
	m.violations = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "numax_peer_violations_total",
		Help: "Messages a peer may not send (link closed), by peer and rule."}, []string{"peer", "kind"})
	m.reg.MustRegister(m.invocations, m.compile, m.execution, m.batchApply, m.delay, m.events, m.skew, m.violations,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) event(name string) {
	m.mu.Lock()
	if !m.eventNames[name] {
		if len(m.eventNames) >= maxEventLabels {
			name = "other"
		} else {
			m.eventNames[name] = true
		}
	}
	m.mu.Unlock()
	m.events.WithLabelValues(name).Inc()
}

// invocation records one Run's outcome.
func (m *metrics) invocation(module string, d time.Duration, err error) {
	status := "ok"
	var (
		trap *engine.TrapError
		to   *engine.TimeoutError
		mem  *engine.MemoryLimitError
		ab   *hostapi.AbortError
		ex   *engine.ExitError
	)
	switch {
	case err == nil:
	case errors.As(err, &to):
		status = "timeout"
	case errors.As(err, &mem):
		status = "memory_limit"
	case errors.As(err, &ab):
		status = "abort"
	case errors.As(err, &trap):
		status = "trap"
	case errors.As(err, &ex):
		status = "exit_error"
	default:
		status = "error"
	}
	m.invocations.WithLabelValues(filepath.Base(module), status).Inc()
	m.execution.Observe(d.Seconds())
}

// The narrow views of a node's parts that the scrape-time metrics read.
// Each is implemented by the part itself (store, engine, replica,
// transport, discovery); register takes only what a node has.
type (
	storeStats interface {
		DiskBytes() uint64
		CountKeys(store.Space) (int, error)
		Degraded() string
	}
	engineStats  interface{ LastMemory() uint64 }
	replicaStats interface {
		Stats() replica.Stats
		PeerLag() map[string]uint64
		VV() map[string]uint64
		GC() replica.GCStats
	}
	linkStats interface {
		Peers() []string
		Counters() transport.Counters
	}
	discoveryStats interface {
		Mode() string
		Members() int
		Dialing() int
		Fanout() int
		GossipStats() (gossip.Stats, bool)
	}
)

// nodeParts are the parts a node has; nil interfaces for parts it lacks.
type nodeParts struct {
	store  storeStats
	engine engineStats
	rep    replicaStats
	links  linkStats
	disc   discoveryStats
}

// register adds the metrics that read the node's parts at scrape time.
func (m *metrics) register(p nodeParts) {
	gauge := func(name, help string, f func() float64) {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	counter := func(name, help string, f func() float64) {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
	}
	st := p.store
	gauge("numax_store_bytes", "Datastore size on disk.", func() float64 { return float64(st.DiskBytes()) })
	gauge("numax_store_keys", "Guest keys in the local store (recounted at most every 10 s).", func() float64 {
		m.mu.Lock()
		defer m.mu.Unlock()
		if time.Since(m.keysAt) > 10*time.Second {
			if k, err := st.CountKeys(store.Guest); err == nil {
				m.keys, m.keysAt = k, time.Now()
			}
		}
		return float64(m.keys)
	})
	for _, reason := range []string{store.ReasonDiskFull, store.ReasonFailed} {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "numax_store_degraded",
			Help: "1 while the datastore refuses writes for this reason (disk_full: below [storage] min_free_space; " +
				"store_failed: a fatal error in the store's background work, until a restart).",
			ConstLabels: prometheus.Labels{"reason": reason}},
			func() float64 {
				if st.Degraded() == reason {
					return 1
				}
				return 0
			}))
	}
	eng := p.engine
	gauge("numax_wasm_memory_bytes", "Linear memory of the last guest instance.", func() float64 { return float64(eng.LastMemory()) })
	if r := p.rep; r != nil {
		counter("numax_ops_total", "Local CRDT writes plus remote ops applied.", func() float64 {
			s := r.Stats()
			return float64(s.LocalOps + s.RemoteApplied)
		})
		counter("numax_broadcast_batches_total", "PushOps batches sent.", func() float64 { return float64(r.Stats().BatchesSent) })
		counter("numax_broadcast_ops_total", "Ops sent in PushOps batches.", func() float64 { return float64(r.Stats().OpsSent) })
		counter("numax_remote_ops_received_total", "Remote ops received.", func() float64 {
			s := r.Stats()
			return float64(s.RemoteApplied + s.RemoteDuplicates + s.RemoteBuffered + s.RemoteDropped)
		})
		counter("numax_remote_ops_applied_total", "Remote ops applied.", func() float64 { return float64(r.Stats().RemoteApplied) })
		counter("numax_remote_ops_duplicate_total", "Remote ops discarded as duplicates.", func() float64 { return float64(r.Stats().RemoteDuplicates) })
		gauge("numax_op_log_entries", "Entries in the op log.", func() float64 { return float64(r.Stats().OpLogEntries) })
		counter("numax_relay_tree_prunes_total", "Origins this node asked a peer to stop relaying to it (a relayed batch brought nothing new).",
			func() float64 { return float64(r.Stats().TreePrunes) })
		counter("numax_relay_tree_grafts_total", "Origins this node asked a lazy peer to relay to it again (an announced op had not come).",
			func() float64 { return float64(r.Stats().TreeGrafts) })
		counter("numax_relay_tree_haves_total", "Announcements (Ack with have) sent to lazy peers.",
			func() float64 { return float64(r.Stats().TreeHaves) })
		counter("numax_crdt_sequence_loads_total", "RGAs and Texts read whole from the datastore into memory (first use after the start, or after an unload).",
			func() float64 { return float64(r.Stats().SeqLoads) })
		counter("numax_crdt_sequence_view_writes_total", "Local edits of a large RGA or Text written through its stored view, without reading it whole.",
			func() float64 { return float64(r.Stats().ViewWrites) })
		counter("numax_crdt_sequence_unloads_total", "RGAs and Texts unloaded from memory past [storage] crdt_cache.",
			func() float64 { return float64(r.Stats().SeqUnloads) })
		counter("numax_op_heads_signed_total", "Heads of this node's own ops it signed (with TLS).", func() float64 { return float64(r.Stats().HeadsSigned) })
		counter("numax_tombstones_collected_bytes_total", "Encoded bytes of tombstones collected once causally stable (ORSet, LWW-Map, Text and RGA removals).",
			func() float64 { return float64(r.GC().CollectedBytes) })
		gauge("numax_tombstones_pending", "Removed ORSet tags and LWW-Map fields, deleted Text runs and deleted RGA elements waiting until their removal is causally stable.",
			func() float64 { return float64(r.GC().Pending) })
		gauge("numax_tombstone_oldest_age_seconds", "How long the oldest uncollected tombstone has waited (0 if none).",
			func() float64 { return r.GC().OldestAge.Seconds() })
		counter("numax_op_heads_verified_total", "Heads of remote ops verified against their origins' keys (with TLS).", func() float64 { return float64(r.Stats().HeadsVerified) })
		m.reg.MustRegister(&perKey{read: r.PeerLag, desc: prometheus.NewDesc("numax_replication_lag_ops",
			"Ops the peer is known to lack.", []string{"peer"}, nil)})
		// One series per node that ever wrote: the cluster's size.
		m.reg.MustRegister(&perKey{read: r.VV, desc: prometheus.NewDesc("numax_version_vector",
			"Highest contiguous sequence number applied from each origin (equal on every node once converged).",
			[]string{"origin"}, nil)})
	}
	if t := p.links; t != nil {
		gauge("numax_peers_connected", "Connected peers.", func() float64 { return float64(len(t.Peers())) })
		counter("numax_peer_connects_total", "Links established.", func() float64 { return float64(t.Counters().Connects) })
		counter("numax_peer_disconnects_total", "Links lost.", func() float64 { return float64(t.Counters().Disconnects) })
		m.reg.MustRegister(&syncErrors{links: t, desc: prometheus.NewDesc("numax_sync_errors_total",
			"Sync failures by reason.", []string{"reason"}, nil)})
	}
	if d := p.disc; d != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "numax_discovery_mode",
			Help: "1 for the discovery mode in use.", ConstLabels: prometheus.Labels{"mode": d.Mode()}}, func() float64 { return 1 }))
		gauge("numax_discovery_members", "Nodes known, this one included (gossip: live members; else dialed peers + 1).",
			func() float64 { return float64(d.Members()) })
		gauge("numax_discovery_dialing", "Addresses this node dials.", func() float64 { return float64(d.Dialing()) })
		gauge("numax_replication_fanout", "K: the members gossip mode dials (unless links is set), at most the peers connected.",
			func() float64 { return float64(d.Fanout()) })
		if _, ok := d.GossipStats(); ok {
			gs := func() gossip.Stats { s, _ := d.GossipStats(); return s }
			counter("numax_gossip_member_joins_total", "Members seen joining.", func() float64 { return float64(gs().Joins) })
			counter("numax_gossip_member_departures_total", "Members seen leaving or failing.",
				func() float64 { return float64(gs().Departures) })
			counter("numax_gossip_members_refused_total", "Member announcements refused (not a NodeId, not allowed, bad metadata).",
				func() float64 { return float64(gs().RefusedMembers) })
		}
	}
}

// perKey is a gauge per key of a map read at scrape time
// (numax_replication_lag_ops by peer, numax_version_vector by origin).
type perKey struct {
	read func() map[string]uint64
	desc *prometheus.Desc
}

func (c *perKey) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c *perKey) Collect(ch chan<- prometheus.Metric) {
	for k, v := range c.read() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(v), k)
	}
}

// syncErrors reports numax_sync_errors_total{reason}.
type syncErrors struct {
	links linkStats
	desc  *prometheus.Desc
}

func (c *syncErrors) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c *syncErrors) Collect(ch chan<- prometheus.Metric) {
	k := c.links.Counters()
	for reason, v := range map[string]uint64{"dial_failed": k.DialFailures, "refused": k.Refusals, "bad_frame": k.BadFrames} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(v), reason)
	}
}
