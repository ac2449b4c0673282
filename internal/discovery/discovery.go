// Package discovery decides which addresses a node's op transport dials:
// the configured peers (static), a peers file re-read when it changes
// (file), or the members of a gossip membership carried over the node's TLS
// identity (gossip), of which it dials a random subset and re-chooses as
// members come and go. It also says how many peers each batch of relayed
// ops goes to (K). It owns the goroutine that watches the peers file and the
// membership it starts; Close stops both.
package discovery

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/numax/numax/internal/gossip"
	"github.com/numax/numax/internal/replica"
	"github.com/numax/numax/internal/transport"
)

// Modes ([discovery] mode).
const (
	Static = "static" // the configured peer addresses
	Gossip = "gossip" // memberlist over the node's TLS identity
	File   = "file"   // a peers file, re-read on change
)

// Config configures discovery.
type Config struct {
	// Mode is Static (the default when empty), Gossip or File.
	Mode string
	// GossipListen is the gossip address and Seeds the members to join
	// through (gossip mode).
	GossipListen string
	Seeds        []string
	// PeersFile holds one address per line (file mode).
	PeersFile string
	// AllowedPeers, if set, are the only NodeIds admitted as members.
	AllowedPeers []string
	// Fanout is K, the peers each batch of new ops goes to (0 = ceil(log2
	// N) + 1); Links, how many members gossip mode dials (0 = K).
	Fanout, Links int
	// ProbeInterval is the SWIM failure-detection period (0 = default).
	ProbeInterval time.Duration
}

// Validate reports a mode that is unknown or lacks what it needs, before
// anything is started.
func (c Config) Validate() error {
	switch c.Mode {
	case "", Static:
	case File:
		if c.PeersFile == "" {
			return fmt.Errorf("discovery: mode %q needs a peers file", c.Mode)
		}
	case Gossip:
		if c.GossipListen == "" {
			return fmt.Errorf("discovery: mode %q needs a gossip listen address", c.Mode)
		}
	default:
		return fmt.Errorf("discovery: unknown mode %q (want %s, %s or %s)", c.Mode, Static, Gossip, File)
	}
	if c.Fanout < 0 || c.Links < 0 || c.ProbeInterval < 0 {
		return fmt.Errorf("discovery: fanout, links and probe interval must not be negative")
	}
	return nil
}

// Discovery decides which addresses the op transport dials, and how many
// peers each batch of new ops goes to.
type Discovery struct {
	mode   string
	netw   Config
	tr     *transport.Transport
	ms     *gossip.Membership
	log    *slog.Logger
	fanout int // configured K (0 = automatic)

	// mu guards chosen and fileState.
	mu        sync.Mutex
	chosen    gossip.Links
	fileState []byte

	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// Start starts discovery for the node nodeID whose op links are tr (started,
// with its configured peers). ident is the node's TLS identity (nil without
// TLS).
func Start(netw Config, nodeID string, ident *transport.Identity, tr *transport.Transport, log *slog.Logger) (*Discovery, error) {
	if err := netw.Validate(); err != nil {
		return nil, err
	}
	d := &Discovery{mode: netw.Mode, netw: netw, tr: tr, log: log, fanout: netw.Fanout, done: make(chan struct{})}
	if d.mode == "" {
		d.mode = Static
	}
	switch d.mode {
	case Static:
	case File:
		if err := d.readPeersFile(); err != nil {
			return nil, err
		}
		d.wg.Add(1)
		go d.watchFile()
	case Gossip:
		link := tr.Addr().(*net.TCPAddr)
		if link.IP.IsUnspecified() {
			return nil, fmt.Errorf("discovery: network.listen %s is not an address other members can reach; name one", link)
		}
		gt, err := gossip.NewTLSTransport(gossip.TransportConfig{Listen: netw.GossipListen, TLS: ident,
			AllowedPeers: netw.AllowedPeers, Trust: tr.Trust(), Logger: log})
		if err != nil {
			return nil, err
		}
		gc := gossip.Config{NodeID: nodeID, LinkAddr: link.String(), Seeds: netw.Seeds, Transport: gt,
			AllowedPeers: netw.AllowedPeers, ProbeInterval: netw.ProbeInterval, Logger: log, OnChange: d.relink}
		if trust := tr.Trust(); trust != nil {
			gc.Allowed = trust.Allowed
		}
		d.ms, err = gossip.Start(gc)
		if err != nil {
			_ = gt.Shutdown()
			return nil, err
		}
		log.Info("gossip discovery started", "gossip", gt.Addr().String(), "seeds", len(netw.Seeds))
	}
	return d, nil
}

// size is N, the nodes this one knows of (itself included).
func (d *Discovery) size(connected int) int {
	if d.ms != nil {
		return max(d.ms.Size(), connected+1)
	}
	return connected + 1
}

// FanoutFor is K when connected peers are linked: configured, or
// ceil(log2 N) + 1 (the links gossip mode dials, unless configured).
func (d *Discovery) FanoutFor(connected int) int {
	if d.fanout > 0 {
		return d.fanout
	}
	return replica.DefaultFanout(d.size(connected))
}

// links is how many members gossip mode dials.
func (d *Discovery) links() int {
	if d.netw.Links > 0 {
		return d.netw.Links
	}
	return d.FanoutFor(d.ms.Size() - 1)
}

// relink re-chooses the dialed members after a membership change: those
// chosen before that are still members stay, the rest are drawn at random.
func (d *Discovery) relink() {
	d.mu.Lock()
	addrs := d.chosen.Choose(d.ms.Members(), d.links())
	d.mu.Unlock()
	d.tr.SetPeers(addrs)
	d.log.Debug("links re-chosen", "members", d.ms.Size(), "dialing", len(addrs))
}

// readPeersFile applies the peers file if it changed: one address per
// line; blank lines and lines starting with # are skipped.
func (d *Discovery) readPeersFile() error {
	b, err := os.ReadFile(d.netw.PeersFile)
	if err != nil {
		return fmt.Errorf("discovery: peers file: %w", err)
	}
	d.mu.Lock()
	same := d.fileState != nil && bytes.Equal(b, d.fileState)
	d.fileState = b
	d.mu.Unlock()
	if same {
		return nil
	}
	var addrs []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if _, _, err := net.SplitHostPort(line); err != nil {
			return fmt.Errorf("discovery: peers file %s:%d: %q is not host:port", d.netw.PeersFile, n, line)
		}
		addrs = append(addrs, line)
	}
	d.tr.SetPeers(addrs)
	d.log.Info("peers file read", "file", d.netw.PeersFile, "peers", len(addrs))
	return nil
}

// watchFile re-reads the peers file every second; a file that turns bad
// is reported and the last good set kept.
func (d *Discovery) watchFile() {
	defer d.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := d.readPeersFile(); err != nil {
				d.log.Warn("peers file not applied; keeping the previous peers", "err", err)
			}
		case <-d.done:
			return
		}
	}
}

// Mode is the discovery mode in use.
func (d *Discovery) Mode() string { return d.mode }

// Dialing is how many addresses the node dials.
func (d *Discovery) Dialing() int { return len(d.tr.Dialing()) }

// Fanout is K for the peers connected now (at most their number).
func (d *Discovery) Fanout() int {
	n := len(d.tr.Peers())
	return min(d.FanoutFor(n), n)
}

// GossipStats are the membership's counters; ok is false outside gossip
// mode.
func (d *Discovery) GossipStats() (s gossip.Stats, ok bool) {
	if d.ms == nil {
		return gossip.Stats{}, false
	}
	return d.ms.Stats(), true
}

// JoinsThroughSeeds reports whether the node joins a membership through
// seeds, so that waiting for peers means waiting for one member first.
func (d *Discovery) JoinsThroughSeeds() bool { return d.ms != nil && len(d.netw.Seeds) > 0 }

// Members is the membership size (gossip) or the dialed addresses + 1.
func (d *Discovery) Members() int {
	if d.ms != nil {
		return d.ms.Size()
	}
	return len(d.tr.Dialing()) + 1
}

// Close leaves the membership and stops watching; it is idempotent.
func (d *Discovery) Close() error {
	var err error
	d.once.Do(func() {
		close(d.done)
		d.wg.Wait()
		if d.ms != nil {
			err = d.ms.Close()
		}
	})
	return err
}
