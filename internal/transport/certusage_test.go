package transport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/numax/numax/internal/testutil"
)

// signedBy makes a certificate signed by ca with the given CA flag and
// extended usages: what a compromised CA operator or a sloppy script might
// hand a node.
func signedBy(t *testing.T, ca PEMPair, isCA bool, usages []x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	caCert, caKey, err := parsePair(ca)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "bad"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: usages,
		IsCA: isCA, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	c, err := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A certificate from the cluster CA that is a CA itself, or lacks the
// clientAuth or serverAuth usage, is refused in the handshake, and a node
// will not start with one.
func TestCertUsagesEnforced(t *testing.T) {
	dir := t.TempDir()
	ca, err := NewCA("test-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.crt")
	os.WriteFile(caFile, ca.Cert, 0o600)
	p, _, err := NewNodeCert(ca, "a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "a.crt"), p.Cert, 0o600)
	os.WriteFile(filepath.Join(dir, "a.key"), p.Key, 0o600)
	id, err := LoadIdentity(filepath.Join(dir, "a.crt"), filepath.Join(dir, "a.key"), caFile)
	if err != nil {
		t.Fatal(err)
	}
	a := start(t, id, nil)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.Cert)
	for _, tt := range []struct {
		name   string
		isCA   bool
		usages []x509.ExtKeyUsage
		want   string
	}{
		{"ca_true", true, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, "is a CA"},
		{"no_client_auth", false, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, "lacks the serverAuth and clientAuth"},
		{"no_server_auth", false, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, "lacks the serverAuth and clientAuth"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bad := signedBy(t, ca, tt.isCA, tt.usages)
			nc, err := net.Dial("tcp", a.addr())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			tc := tls.Client(nc, &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{bad}, InsecureSkipVerify: true}) //nolint:gosec // the adversary
			_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
			_ = tc.Handshake()
			// TLS 1.3: the refusal arrives on the first read.
			if _, err := tc.Read(make([]byte, 1)); err == nil {
				t.Fatal("the listener answered a peer with a bad certificate")
			}
			testutil.Eventually(t, 10*time.Second, "the refusal in the log", func() bool { return strings.Contains(a.log.String(), tt.want) })
			if len(a.t.Peers()) != 0 {
				t.Fatal("a peer with a bad certificate was linked")
			}
			// And as a node's own certificate: refused at start.
			cf, kf := filepath.Join(dir, tt.name+".crt"), filepath.Join(dir, tt.name+".key")
			os.WriteFile(cf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: bad.Certificate[0]}), 0o600)
			kd, _ := x509.MarshalECPrivateKey(bad.PrivateKey.(*ecdsa.PrivateKey))
			os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600)
			if _, err := LoadIdentity(cf, kf, caFile); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("LoadIdentity of a bad node certificate: %v", err)
			}
		})
	}
}
