package gossip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/numax/numax/internal/abi"
	"github.com/numax/numax/internal/defaults"
)

// Member is another node of the cluster.
type Member struct {
	NodeID string
	// LinkAddr is the address of its op links (from its metadata).
	LinkAddr string
}

// Config configures a Membership.
type Config struct {
	// NodeID names this node in the membership.
	NodeID string
	// LinkAddr is this node's op-link address, carried as its metadata.
	LinkAddr string
	// Seeds are gossip addresses to join through (any one is enough).
	Seeds []string
	// Transport carries memberlist (a TLSTransport, or a mock in tests).
	Transport memberlist.Transport
	// AllowedPeers, if not empty, are the only NodeIds admitted as members.
	AllowedPeers []string
	// Allowed, if set, decides instead of AllowedPeers (the node's
	// swappable allowlist, so a reload reaches membership too).
	Allowed func(nodeID string) bool
	// ProbeInterval is SWIM's failure-detection period (default 300 ms);
	// a hard failure is seen by all within a few of them.
	ProbeInterval time.Duration
	Logger        *slog.Logger
	// OnChange, if set, is called (on its own goroutine) after the member
	// set changes.
	OnChange func()
}

// Membership is this node's view of the cluster.
type Membership struct {
	cfg     Config
	log     *slog.Logger
	ml      *memberlist.Memberlist
	allowed map[string]bool

	// mu guards members.
	mu      sync.Mutex
	members map[string]Member

	changed chan struct{} // a buffered signal to the notifier
	done    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once

	joins, departures, refusedMembers uint64 // under mu
}

// Stats counts membership events.
type Stats struct {
	Members int
	// Departures counts members gone, by leaving or by failing (memberlist
	// does not tell the two apart to its event delegate).
	Joins, Departures, RefusedMembers uint64
}

// Start creates the memberlist and joins through the seeds, retrying in
// the background until one answers.
func Start(cfg Config) (*Membership, error) {
	if !abi.ValidNodeID(cfg.NodeID) {
		return nil, fmt.Errorf("gossip: NodeID %q is not a NodeId", cfg.NodeID)
	}
	if cfg.Transport == nil {
		return nil, errors.New("gossip: no transport")
	}
	if cfg.ProbeInterval <= 0 {
		cfg.ProbeInterval = defaults.ProbeInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Membership{cfg: cfg, log: cfg.Logger, allowed: map[string]bool{}, members: map[string]Member{},
		changed: make(chan struct{}, 1), done: make(chan struct{})}
	for _, id := range cfg.AllowedPeers {
		m.allowed[id] = true
	}
	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.NodeID
	mc.Transport = cfg.Transport
	mc.DisableTcpPings = true // probes ride the packet connections
	mc.ProbeInterval = cfg.ProbeInterval
	mc.ProbeTimeout = cfg.ProbeInterval / 2
	mc.GossipInterval = cfg.ProbeInterval / 5
	// A suspect is declared dead after SuspicionMult × log10(N) × probe
	// interval once SuspicionMult - 2 other members confirm it (Lifeguard;
	// up to 6× that without). Tried 2 (no confirmations awaited): a
	// SIGKILLed member of 32 was seen dead by all in 3.2 s instead of 4.2 s
	// (nx bench gossip-32), but TestGossip32 under -race, sharing two cores
	// with the rest of make test, then had halves that did not merge within
	// 60 s of a heal (false suspicions under load). Kept at 3.
	mc.SuspicionMult = 3
	// Full state exchange with one random member; it also lets a node
	// restarted on a new address reclaim its NodeId within seconds.
	mc.PushPullInterval = 5 * time.Second
	// A restarted node may come back on a new address under its NodeId.
	mc.DeadNodeReclaimTime = cfg.ProbeInterval
	// Keep gossiping to members thought dead for two minutes: after a
	// partition of up to that long heals, they hear it and refute.
	mc.GossipToTheDeadTime = 2 * time.Minute
	mc.Delegate = delegate{m}
	mc.Events = events{m}
	mc.Alive = m
	mc.Merge = m
	mc.Logger = log.New(slogWriter{cfg.Logger}, "", 0)
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("gossip: %w", err)
	}
	m.ml = ml
	m.wg.Add(2)
	go m.notifier()
	go m.joiner()
	return m, nil
}

// admit refuses a member whose name is not a NodeId, or not allowed, or
// whose metadata is not an address.
func (m *Membership) admit(n *memberlist.Node) error {
	if n.Name == m.cfg.NodeID {
		return nil
	}
	if !abi.ValidNodeID(n.Name) {
		return fmt.Errorf("member name %q is not a NodeId", n.Name)
	}
	if m.cfg.Allowed != nil {
		if !m.cfg.Allowed(n.Name) {
			return fmt.Errorf("member %s is not in allowed_peers", n.Name)
		}
	} else if len(m.allowed) > 0 && !m.allowed[n.Name] {
		return fmt.Errorf("member %s is not in allowed_peers", n.Name)
	}
	if len(n.Meta) == 0 || len(n.Meta) > 255 || strings.ContainsAny(string(n.Meta), " \n\x00") {
		return fmt.Errorf("member %s: metadata %q is not a link address", n.Name, n.Meta)
	}
	return nil
}

// NotifyAlive implements memberlist.AliveDelegate.
func (m *Membership) NotifyAlive(n *memberlist.Node) error {
	err := m.admit(n)
	if err != nil {
		m.mu.Lock()
		m.refusedMembers++
		m.mu.Unlock()
		m.log.Warn("gossip member refused", "err", err)
	}
	return err
}

// NotifyMerge implements memberlist.MergeDelegate: a push-pull carrying a
// member this node would refuse is refused whole.
func (m *Membership) NotifyMerge(peers []*memberlist.Node) error {
	for _, n := range peers {
		if err := m.NotifyAlive(n); err != nil {
			return err
		}
	}
	return nil
}

func (m *Membership) joiner() {
	defer m.wg.Done()
	wait := 200 * time.Millisecond
	var lastJoin time.Time
	for {
		joined := m.ml.NumMembers() > 1
		if len(m.cfg.Seeds) == 0 || (joined && time.Since(lastJoin) < 20*time.Second) {
			// Alone with no seed, or joined recently: check again later. A
			// joined node still re-joins its seeds every 20 s, which merges
			// the halves of a healed partition if gossip has not.
			wait = 2 * time.Second
		} else if n, err := m.ml.Join(m.cfg.Seeds); err != nil {
			m.log.Debug("gossip join failed; retrying", "seeds", m.cfg.Seeds, "err", err)
			wait = min(wait*2, 5*time.Second)
		} else {
			if !joined {
				m.log.Info("gossip joined", "seeds_answered", n, "members", m.ml.NumMembers())
			}
			lastJoin = time.Now()
			wait = 2 * time.Second
		}
		select {
		case <-time.After(wait):
		case <-m.done:
			return
		}
	}
}

func (m *Membership) notifier() {
	defer m.wg.Done()
	for {
		select {
		case <-m.changed:
			if m.cfg.OnChange != nil {
				m.cfg.OnChange()
			}
		case <-m.done:
			return
		}
	}
}

func (m *Membership) signal() {
	select {
	case m.changed <- struct{}{}:
	default:
	}
}

// Members returns the live members other than this node, sorted by NodeId.
func (m *Membership) Members() []Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Member, 0, len(m.members))
	for _, mb := range m.members {
		out = append(out, mb)
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.NodeID, b.NodeID) })
	return out
}

// Size is the number of live members, this node included.
func (m *Membership) Size() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.members) + 1
}

// Stats returns the event counters.
func (m *Membership) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Stats{Members: len(m.members) + 1, Joins: m.joins, Departures: m.departures, RefusedMembers: m.refusedMembers}
}

// Close leaves the cluster (telling the others at once rather than letting
// them detect a failure) and stops; it is idempotent.
func (m *Membership) Close() error {
	var err error
	m.once.Do(func() {
		close(m.done)
		m.wg.Wait()
		_ = m.ml.Leave(time.Second)
		err = m.ml.Shutdown()
	})
	return err
}

// events tracks joins, leaves and failures.
type events struct{ m *Membership }

func (e events) NotifyJoin(n *memberlist.Node) {
	m := e.m
	if n.Name == m.cfg.NodeID {
		return
	}
	m.put(n, true)
	m.log.Info("member joined", "member", n.Name, "link", string(n.Meta), "gossip", n.Address())
}

func (e events) NotifyLeave(n *memberlist.Node) {
	m := e.m
	if n.Name == m.cfg.NodeID {
		return
	}
	m.mu.Lock()
	delete(m.members, n.Name)
	m.departures++
	m.mu.Unlock()
	m.log.Info("member gone (left or failed)", "member", n.Name)
	m.signal()
}

func (e events) NotifyUpdate(n *memberlist.Node) {
	m := e.m
	if n.Name == m.cfg.NodeID {
		return
	}
	m.put(n, false)
}

// put records a joined or updated member and signals the change.
func (m *Membership) put(n *memberlist.Node, joined bool) {
	m.mu.Lock()
	m.members[n.Name] = Member{NodeID: n.Name, LinkAddr: string(n.Meta)}
	if joined {
		m.joins++
	}
	m.mu.Unlock()
	m.signal()
}

// delegate carries the link address as metadata; Numax gossips nothing
// else through memberlist (ops travel on the op links).
type delegate struct{ m *Membership }

func (d delegate) NodeMeta(limit int) []byte {
	if len(d.m.cfg.LinkAddr) > limit {
		return nil
	}
	return []byte(d.m.cfg.LinkAddr)
}
func (delegate) NotifyMsg([]byte)                           {}
func (delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (delegate) LocalState(join bool) []byte                { return nil }
func (delegate) MergeRemoteState(buf []byte, join bool)     {}

// slogWriter turns memberlist's log lines ("[LEVEL] memberlist: ...")
// into slog records at the matching level.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	// memberlist logs every failed send to a dead member as [ERR]: normal
	// in a cluster where nodes fail, so one level down.
	lvl := slog.LevelDebug
	switch {
	case strings.HasPrefix(line, "[ERR]"):
		lvl = slog.LevelWarn
	case strings.HasPrefix(line, "[WARN]"):
		lvl = slog.LevelInfo
	}
	w.l.Log(context.Background(), lvl, "memberlist: "+line)
	return len(p), nil
}

var _ io.Writer = slogWriter{}

// Choose picks which members to link to: the ones already chosen that are
// still members, then random others, up to n. It returns their link
// addresses, sorted, and the new chosen set.
func Choose(members []Member, chosen map[string]bool, n int) ([]string, map[string]bool) {
	next := map[string]bool{}
	var rest []Member
	var addrs []string
	for _, mb := range members {
		if chosen[mb.NodeID] && len(next) < n {
			next[mb.NodeID] = true
			addrs = append(addrs, mb.LinkAddr)
		} else {
			rest = append(rest, mb)
		}
	}
	rand.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	for _, mb := range rest {
		if len(next) >= n {
			break
		}
		next[mb.NodeID] = true
		addrs = append(addrs, mb.LinkAddr)
	}
	slices.Sort(addrs)
	return addrs, next
}

// Links is a node's choice of the members it links to, kept between
// membership changes.
type Links struct {
	chosen map[string]bool
	known  map[string]bool
}

// Choose re-chooses up to n links among members (see Choose: those chosen
// before that are still members stay, the rest are drawn at random), and
// a member that joined since the last choice takes the place of a kept
// link with the chance a random choice would give it, n in the number of
// members. Without that, a cluster that split and healed keeps the links
// each half chose within itself while apart, and the halves never
// exchange ops again.
func (l *Links) Choose(members []Member, n int) []string {
	var joined []string
	for _, mb := range members {
		if !l.known[mb.NodeID] && !l.chosen[mb.NodeID] {
			joined = append(joined, mb.NodeID)
		}
	}
	_, next := Choose(members, l.chosen, n)
	if len(l.known) > 0 && n > 0 && len(next) >= n {
		for _, id := range joined {
			if next[id] || rand.IntN(len(members)) >= n {
				continue
			}
			kept := make([]string, 0, len(next))
			for k := range next {
				kept = append(kept, k)
			}
			slices.Sort(kept)
			delete(next, kept[rand.IntN(len(kept))])
			next[id] = true
		}
	}
	var addrs []string
	l.known = make(map[string]bool, len(members))
	for _, mb := range members {
		l.known[mb.NodeID] = true
		if next[mb.NodeID] {
			addrs = append(addrs, mb.LinkAddr)
		}
	}
	slices.Sort(addrs)
	l.chosen = next
	return addrs
}

// Chosen reports whether id is one of the chosen links.
func (l *Links) Chosen(id string) bool { return l.chosen[id] }
