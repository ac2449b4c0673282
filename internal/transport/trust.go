package transport

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync/atomic"
	"time"
)

// Trust is a node's TLS identity and allowlist, swappable while the node
// runs (a renewed certificate, a new CA bundle, a changed allowlist). Every
// handshake reads the current ones. The op links and the gossip transport
// share one Trust, so one reload updates both.
type Trust struct {
	id      atomic.Pointer[Identity]
	allowed atomic.Pointer[map[string]bool]
}

// NewTrust returns a Trust holding id and allowed (empty: any NodeId the CA
// vouches for).
func NewTrust(id *Identity, allowed []string) *Trust {
	t := &Trust{}
	t.id.Store(id)
	t.setAllowed(allowed)
	return t
}

func (t *Trust) setAllowed(allowed []string) {
	m := make(map[string]bool, len(allowed))
	for _, a := range allowed {
		m[a] = true
	}
	t.allowed.Store(&m)
}

// Identity is the current identity.
func (t *Trust) Identity() *Identity { return t.id.Load() }

// Allowed reports whether nodeID may link: true for any NodeId without an
// allowlist.
func (t *Trust) Allowed(nodeID string) bool {
	m := *t.allowed.Load()
	return len(m) == 0 || m[nodeID]
}

// AllowedSet is the current allowlist (nil without one).
func (t *Trust) AllowedSet() map[string]bool {
	m := *t.allowed.Load()
	if len(m) == 0 {
		return nil
	}
	return m
}

// Set swaps in a new identity and allowlist. The identity must keep the
// node's NodeId (the same key): a node's identity is its key.
func (t *Trust) Set(id *Identity, allowed []string) error {
	if cur := t.id.Load(); cur != nil && id.NodeID != cur.NodeID {
		return fmt.Errorf("the new certificate is NodeId %s, this node is %s: a reload keeps the key (nx cert node --renew)", id.NodeID, cur.NodeID)
	}
	t.id.Store(id)
	t.setAllowed(allowed)
	return nil
}

// ServerConfig and ClientConfig are the current identity's configurations
// with the current allowlist checked in the handshake.
func (t *Trust) ServerConfig() *tls.Config {
	return WithAllowlist(t.Identity().ServerConfig(), t.AllowedSet())
}

func (t *Trust) ClientConfig() *tls.Config {
	return WithAllowlist(t.Identity().ClientConfig(), t.AllowedSet())
}

// Expiry is when the current certificate expires.
func (t *Trust) Expiry() time.Time { return t.Identity().Cert.Leaf.NotAfter }

// CheckOrigin vets the certificate of an op's origin (opauth.CheckCert):
// a node certificate (not a CA; serverAuth and clientAuth) chained to the
// current cluster CA, its NodeId (the hash of its key) in the allowlist when
// there is one (self, this node, need not be on it). The chain is judged as
// of the certificate's own start: the ops it signed stay provable after it
// expires (links check expiry).
func (t *Trust) CheckOrigin(c *x509.Certificate, self string) (string, error) {
	if err := nodeCertUsable(c); err != nil {
		return "", err
	}
	_, err := c.Verify(x509.VerifyOptions{
		Roots: t.Identity().CAs, CurrentTime: c.NotBefore.Add(time.Second),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return "", fmt.Errorf("not signed by the cluster CA: %w", err)
	}
	id := NodeIDFromCert(c)
	if id != self && !t.Allowed(id) {
		return "", fmt.Errorf("NodeId %s is not in allowed_peers", id)
	}
	return id, nil
}
