package numax

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

// Discovery modes ([discovery] mode).
const (
	DiscoveryStatic = "static" // Network.Peers
	DiscoveryGossip = "gossip" // memberlist over the node's TLS identity
	DiscoveryFile   = "file"   // Network.PeersFile, re-read on change
)

// discovery decides which addresses the op transport dials, and how many
// peers each batch of new ops goes to.
type discovery struct {
	mode   string
	netw   Network
	tr     *transport.Transport
	ms     *gossip.Membership
	log    *slog.Logger
	fanout int // configured K (0 = automatic)

	// mu guards chosen and fileState.
	mu        sync.Mutex
	chosen    map[string]bool
	fileState []byte

	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

func startDiscovery(netw Network, nodeID string, ident *transport.Identity, tr *transport.Transport, log *slog.Logger) (*discovery, error) {
	d := &discovery{mode: netw.Discovery, netw: netw, tr: tr, log: log, fanout: netw.Fanout, done: make(chan struct{})}
	if d.mode == "" {
		d.mode = DiscoveryStatic
	}
	switch d.mode {
	case DiscoveryStatic:
	case DiscoveryFile:
		if err := d.readPeersFile(); err != nil {
			return nil, err
		}
		d.wg.Add(1)
		go d.watchFile()
	case DiscoveryGossip:
		link := tr.Addr().(*net.TCPAddr)
		if link.IP.IsUnspecified() {
			return nil, fmt.Errorf("discovery: network.listen %s is not an address other members can reach; name one", link)
		}
		gt, err := gossip.NewTLSTransport(gossip.TransportConfig{Listen: netw.GossipListen, TLS: ident,
			AllowedPeers: netw.AllowedPeers, Logger: log})
		if err != nil {
			return nil, err
		}
		d.ms, err = gossip.Start(gossip.Config{NodeID: nodeID, LinkAddr: link.String(), Seeds: netw.Seeds, Transport: gt,
			AllowedPeers: netw.AllowedPeers, ProbeInterval: netw.ProbeInterval, Logger: log, OnChange: d.relink})
		if err != nil {
			_ = gt.Shutdown()
			return nil, err
		}
		log.Info("gossip discovery started", "gossip", gt.Addr().String(), "seeds", len(netw.Seeds))
	default:
		return nil, fmt.Errorf("discovery: unknown mode %q", d.mode)
	}
	return d, nil
}

// size is N, the nodes this one knows of (itself included).
func (d *discovery) size(connected int) int {
	if d.ms != nil {
		return max(d.ms.Size(), connected+1)
	}
	return connected + 1
}

// fanoutFor is K for a batch: configured, or ceil(log2 N) + 1.
func (d *discovery) fanoutFor(connected int) int {
	if d.fanout > 0 {
		return d.fanout
	}
	return replica.DefaultFanout(d.size(connected))
}

// links is how many members gossip mode dials.
func (d *discovery) links() int {
	if d.netw.Links > 0 {
		return d.netw.Links
	}
	return d.fanoutFor(d.ms.Size() - 1)
}

// relink re-chooses the dialed members after a membership change: those
// chosen before that are still members stay, the rest are drawn at random.
func (d *discovery) relink() {
	d.mu.Lock()
	addrs, next := gossip.Choose(d.ms.Members(), d.chosen, d.links())
	d.chosen = next
	d.mu.Unlock()
	d.tr.SetPeers(addrs)
	d.log.Debug("links re-chosen", "members", d.ms.Size(), "dialing", len(addrs))
}

// readPeersFile applies the peers file if it changed: one address per
// line; blank lines and lines starting with # are skipped.
func (d *discovery) readPeersFile() error {
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
func (d *discovery) watchFile() {
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

// Members is the membership size (gossip) or the dialed addresses + 1.
func (d *discovery) Members() int {
	if d.ms != nil {
		return d.ms.Size()
	}
	return len(d.tr.Dialing()) + 1
}

// Close leaves the membership and stops watching; it is idempotent.
func (d *discovery) Close() error {
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
