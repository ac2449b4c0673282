package transport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"time"
)

// PEM-encoded certificate and key.
type PEMPair struct {
	Cert, Key []byte
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func encode(der []byte, key *ecdsa.PrivateKey) (PEMPair, error) {
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return PEMPair{}, err
	}
	return PEMPair{
		Cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		Key:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}),
	}, nil
}

// NewCA creates a self-signed ECDSA P-256 cluster CA valid for validity.
func NewCA(name string, validity time.Duration) (PEMPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return PEMPair{}, err
	}
	sn, err := serial()
	if err != nil {
		return PEMPair{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: sn, Subject: pkix.Name{CommonName: name, Organization: []string{"Numax cluster"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(validity),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return PEMPair{}, err
	}
	return encode(der, key)
}

// NewNodeCert creates a node certificate signed by ca, valid for both ends of
// a link. It returns the pair and the NodeId the certificate gives.
func NewNodeCert(ca PEMPair, name string, validity time.Duration) (PEMPair, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return PEMPair{}, "", err
	}
	return nodeCert(ca, name, key, validity)
}

// RenewNodeCert issues a new certificate for an existing node key (the PEM
// key of a node pair), so the node keeps its NodeId.
func RenewNodeCert(ca PEMPair, name string, nodeKey []byte, validity time.Duration) (PEMPair, string, error) {
	kb, _ := pem.Decode(nodeKey)
	if kb == nil {
		return PEMPair{}, "", errors.New("node key: no PEM key")
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return PEMPair{}, "", fmt.Errorf("node key: %w", err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return PEMPair{}, "", errors.New("node key: not ECDSA")
	}
	return nodeCert(ca, name, key, validity)
}

func nodeCert(ca PEMPair, name string, key *ecdsa.PrivateKey, validity time.Duration) (PEMPair, string, error) {
	caCert, caKey, err := parsePair(ca)
	if err != nil {
		return PEMPair{}, "", fmt.Errorf("CA: %w", err)
	}
	if !caCert.IsCA {
		return PEMPair{}, "", errors.New("CA: certificate is not a CA")
	}
	sn, err := serial()
	if err != nil {
		return PEMPair{}, "", err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: sn, Subject: pkix.Name{CommonName: name, Organization: []string{"Numax node"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(validity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    []string{name},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return PEMPair{}, "", err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return PEMPair{}, "", err
	}
	p, err := encode(der, key)
	return p, NodeIDFromCert(leaf), err
}

func parsePair(p PEMPair) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cb, _ := pem.Decode(p.Cert)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, nil, errors.New("no PEM certificate")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	kb, _ := pem.Decode(p.Key)
	if kb == nil {
		return nil, nil, errors.New("no PEM key")
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, errors.New("key is not ECDSA")
	}
	return cert, key, nil
}

// CertFileNodeID returns the NodeId of the PEM certificate in file.
func CertFileNodeID(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return "", fmt.Errorf("%s holds no PEM certificate", file)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	return NodeIDFromCert(c), nil
}
