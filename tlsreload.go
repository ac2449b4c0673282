package numax

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/numax/numax/internal/transport"
)

// certWarnBefore is how long before its expiry a node warns that its
// certificate must be renewed.
const certWarnBefore = 30 * 24 * time.Hour

// ReloadTLS re-reads the node's certificate, key and CA files and swaps
// them in with the given allowlist, without a restart: links to peers
// still allowed stay up, the others close. The certificate must keep the
// node's key (its NodeId); `nx cert node --renew` makes such a one. The
// CLI calls it on SIGHUP; the node itself when the files change.
func (n *Node) ReloadTLS(allowed []string) error {
	netw := n.cfg.Network
	if n.net == nil || netw.Insecure {
		return errors.New("numax: no TLS to reload (sync is off or insecure)")
	}
	id, err := transport.LoadIdentity(netw.TLSCert, netw.TLSKey, netw.TLSCA)
	if err != nil {
		return err
	}
	if err := n.net.Reload(id, allowed); err != nil {
		return err
	}
	n.log.Info("TLS reloaded", "cert", netw.TLSCert, "expires", id.Cert.Leaf.NotAfter.Format(time.RFC3339), "allowed_peers", len(allowed))
	n.warnExpiry(id.Cert.Leaf.NotAfter)
	return nil
}

func (n *Node) warnExpiry(notAfter time.Time) {
	if left := time.Until(notAfter); left < certWarnBefore {
		n.log.Warn("the node certificate expires soon: renew it with `nx cert node NAME --renew` (the node reloads it without a restart)",
			"cert", n.cfg.Network.TLSCert, "expires", notAfter.Format(time.RFC3339), "left", left.Round(time.Minute).String())
	}
}

// fileStamp identifies a file's content cheaply (size and modification time).
func fileStamp(paths ...string) string {
	s := ""
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil {
			s += fmt.Sprintf("%s:%d:%d;", p, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return s
}

// watchTLS reloads the TLS files when they change (checked every
// interval), keeping the current allowlist, and repeats the expiry warning
// once a day. It stops when the node closes.
func (n *Node) watchTLS(interval time.Duration) {
	defer n.bg.Done()
	netw := n.cfg.Network
	last := fileStamp(netw.TLSCert, netw.TLSKey, netw.TLSCA)
	t := time.NewTicker(interval)
	defer t.Stop()
	warned := time.Now()
	for {
		select {
		case <-n.runCtx.Done():
			return
		case <-t.C:
		}
		if now := fileStamp(netw.TLSCert, netw.TLSKey, netw.TLSCA); now != last {
			last = now
			var allowed []string
			for id := range n.net.Trust().AllowedSet() {
				allowed = append(allowed, id)
			}
			if err := n.ReloadTLS(allowed); err != nil {
				n.log.Error("TLS files changed but could not be reloaded; keeping the current ones", "err", err)
			}
		}
		if time.Since(warned) > 24*time.Hour {
			warned = time.Now()
			n.warnExpiry(n.net.Trust().Expiry())
		}
	}
}
