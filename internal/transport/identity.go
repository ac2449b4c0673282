package transport

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
)

// NodeIDFromCert derives a NodeId from a certificate: lowercase hex of the
// first 16 bytes of SHA-256 over its DER SubjectPublicKeyInfo. A node's
// identity is its key.
func NodeIDFromCert(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:16])
}

// Identity is a node's TLS material: its certificate and key, the CA that
// signs every member, and the NodeId the certificate gives.
type Identity struct {
	Cert   tls.Certificate
	CAs    *x509.CertPool
	NodeID string
}

// LoadIdentity reads a PEM certificate, key and CA bundle.
func LoadIdentity(certFile, keyFile, caFile string) (*Identity, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("parse TLS certificate %s: %w", certFile, err)
	}
	cert.Leaf = leaf
	if err := nodeCertUsable(leaf); err != nil {
		return nil, fmt.Errorf("TLS certificate %s: %w (make node certificates with `nx cert node`)", certFile, err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read TLS CA %s: %w", caFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("TLS CA %s holds no PEM certificate", caFile)
	}
	return &Identity{Cert: cert, CAs: pool, NodeID: NodeIDFromCert(leaf)}, nil
}

// certError is a peer certificate the cluster CA does not vouch for: a
// refusal redialing cannot fix.
type certError struct{ err error }

func (e *certError) Error() string { return e.err.Error() }
func (e *certError) Unwrap() error { return e.err }

// nodeCertUsable reports a certificate that cannot be a node's: one marked
// as a CA, or one without both the serverAuth and clientAuth usages (every
// node both dials and accepts).
func nodeCertUsable(c *x509.Certificate) error {
	if c.IsCA {
		return errors.New("certificate is a CA (CA:TRUE), not a node certificate")
	}
	server, client := false, false
	for _, u := range c.ExtKeyUsage {
		server = server || u == x509.ExtKeyUsageServerAuth
		client = client || u == x509.ExtKeyUsageClientAuth
	}
	if !server || !client {
		return errors.New("certificate lacks the serverAuth and clientAuth extended key usages a node needs")
	}
	return nil
}

// verify checks a peer's chain against the CA and that the certificate is a
// node's (not a CA; serverAuth and clientAuth). Identity is the NodeId, not
// a host name, so no name is checked.
func (id *Identity) verify(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return &certError{errors.New("peer sent no certificate")}
	}
	if err := nodeCertUsable(cs.PeerCertificates[0]); err != nil {
		return &certError{fmt.Errorf("peer %w", err)}
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots: id.CAs, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return &certError{fmt.Errorf("peer certificate not signed by the cluster CA: %w", err)}
	}
	return nil
}

// WithAllowlist returns cfg checking, in the handshake itself, that the
// peer's NodeId is in allowed (when allowed is not empty): a peer outside
// the allowlist never gets to send a frame.
func WithAllowlist(cfg *tls.Config, allowed map[string]bool) *tls.Config {
	if len(allowed) == 0 {
		return cfg
	}
	base := cfg.VerifyConnection
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if err := base(cs); err != nil {
			return err
		}
		if id := NodeIDFromCert(cs.PeerCertificates[0]); !allowed[id] {
			return &certError{fmt.Errorf("NodeId %s is not in allowed_peers", id)}
		}
		return nil
	}
	return cfg
}

// ServerConfig and ClientConfig are TLS 1.3 only, with mutual
// authentication against the cluster CA (VerifyConnection). Each call
// returns a new config the caller may extend.
func (id *Identity) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS13,
		Certificates:     []tls.Certificate{id.Cert},
		ClientAuth:       tls.RequireAnyClientCert,
		VerifyConnection: id.verify,
	}
}

func (id *Identity) ClientConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{id.Cert},
		// The chain is checked in VerifyConnection against the cluster CA;
		// the peer is named by NodeId, not by host name.
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
		VerifyConnection:   id.verify,
	}
}
