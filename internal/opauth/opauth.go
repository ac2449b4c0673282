// Package opauth makes ops provable to any node, not only to the peer that
// sent them (docs/wire-protocol.md, "Authenticity of ops").
//
// Each origin keeps a hash chain over its own ops: Chain(0) is Genesis(origin)
// and Chain(s) = SHA-256(Chain(s-1) || canonical encoding of op s). Since the
// encoding holds the op's origin and seq, Chain(s) commits to ops 1..s of that
// origin and nothing else. A Head is the origin's signature, with its
// certificate's key, over (origin, s, Chain(s)). A receiver that holds
// Chain(x) (it has applied ops 1..x) verifies any run x+1..s of the origin's
// ops with one signature check: the run must hash from Chain(x) to the
// signed Chain(s). The origin signs as often as it chooses (per outbound
// batch, rate-limited), and relays and pull answers pass on the latest head
// they verified with the ops it covers, so the proof travels with the ops
// wherever they go.
//
// The package does no I/O: certificates are checked by a function the
// caller supplies (the cluster CA, node usages and the allowlist).
package opauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/numax/numax/internal/crdt"
)

// Hash is a chain value.
type Hash [32]byte

// Head is an origin's signed statement that its ops 1..Seq hash-chain to
// Chain. Sig is empty for a head not (yet) signed.
type Head struct {
	Origin string
	Seq    uint64
	Chain  Hash
	Sig    []byte
}

// Errors of verification.
var (
	// ErrUnknownOrigin is a head of an origin whose certificate this node
	// has not been given.
	ErrUnknownOrigin = errors.New("opauth: no certificate for the origin")
	// ErrBadSignature is a head whose signature does not verify with the
	// origin's key.
	ErrBadSignature = errors.New("opauth: signature does not verify with the origin's key")
	// ErrChainMismatch is a run of ops that does not hash to the head that
	// came with it.
	ErrChainMismatch = errors.New("opauth: ops do not hash to the origin's signed head")
)

const (
	genesisDomain = "numax/chain/v1\x00"
	headDomain    = "numax/head/v1\x00"
)

// Genesis is Chain(0) of origin.
func Genesis(origin string) Hash {
	return sha256.Sum256([]byte(genesisDomain + origin))
}

// Chainer extends chains; it reuses its buffers, so one is used by one
// goroutine at a time.
type Chainer struct {
	buf []byte
}

// Next is Chain(op.Seq) given prev = Chain(op.Seq-1).
func (c *Chainer) Next(prev Hash, op *crdt.Op) Hash {
	c.buf = append(c.buf[:0], prev[:]...)
	c.buf = crdt.AppendOp(c.buf, op)
	return sha256.Sum256(c.buf)
}

// Run hashes ops (consecutive ops of one origin, the first following
// prev's position) from prev and returns the last chain value.
func (c *Chainer) Run(prev Hash, ops []*crdt.Op) Hash {
	for _, op := range ops {
		prev = c.Next(prev, op)
	}
	return prev
}

// message is what a head's signature covers.
func message(h *Head) []byte {
	b := make([]byte, 0, len(headDomain)+len(h.Origin)+1+8+32)
	b = append(b, headDomain...)
	b = append(b, h.Origin...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint64(b, h.Seq)
	return append(b, h.Chain[:]...)
}

// Signer signs heads with a node's private key.
type Signer struct {
	key crypto.Signer
}

// NewSigner returns a Signer for a certificate's private key (ECDSA,
// Ed25519 or RSA).
func NewSigner(key crypto.PrivateKey) (*Signer, error) {
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("opauth: a %T key cannot sign", key)
	}
	switch s.Public().(type) {
	case *ecdsa.PublicKey, ed25519.PublicKey, *rsa.PublicKey:
	default:
		return nil, fmt.Errorf("opauth: unsupported key type %T", s.Public())
	}
	return &Signer{key: s}, nil
}

// Sign sets h.Sig.
func (s *Signer) Sign(h *Head) error {
	msg := message(h)
	var err error
	switch s.key.Public().(type) {
	case ed25519.PublicKey:
		h.Sig, err = s.key.Sign(rand.Reader, msg, crypto.Hash(0))
	case *rsa.PublicKey:
		d := sha256.Sum256(msg)
		h.Sig, err = s.key.Sign(rand.Reader, d[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256})
	default:
		d := sha256.Sum256(msg)
		h.Sig, err = s.key.Sign(rand.Reader, d[:], crypto.SHA256)
	}
	if err != nil {
		return fmt.Errorf("opauth: sign head %d@%s: %w", h.Seq, h.Origin, err)
	}
	return nil
}

// verifySig checks h.Sig with pub.
func verifySig(pub crypto.PublicKey, h *Head) bool {
	msg := message(h)
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return ed25519.Verify(k, msg, h.Sig)
	case *ecdsa.PublicKey:
		d := sha256.Sum256(msg)
		return ecdsa.VerifyASN1(k, d[:], h.Sig)
	case *rsa.PublicKey:
		d := sha256.Sum256(msg)
		return rsa.VerifyPSS(k, crypto.SHA256, d[:], h.Sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
	}
	return false
}

// CheckCert vets a certificate an origin's ops are to be verified with and
// returns the NodeId it proves (the cluster CA, the node usages and the
// allowlist are the caller's).
type CheckCert func(c *x509.Certificate) (nodeID string, err error)

// Keyring holds the origins' certificates, each checked once when added,
// and verifies heads with their keys. It is safe for concurrent use.
type Keyring struct {
	check CheckCert
	max   int

	mu   sync.RWMutex
	keys map[string]keyEntry
}

type keyEntry struct {
	pub crypto.PublicKey
	der []byte
}

// NewKeyring returns a Keyring holding at most max certificates (one per
// origin), each vetted by check.
func NewKeyring(check CheckCert, max int) *Keyring {
	return &Keyring{check: check, max: max, keys: map[string]keyEntry{}}
}

// Add vets a DER certificate and keeps its key under the NodeId it proves.
// fresh is false for a certificate already held.
func (k *Keyring) Add(der []byte) (nodeID string, fresh bool, err error) {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return "", false, fmt.Errorf("opauth: certificate: %w", err)
	}
	id, err := k.check(c)
	if err != nil {
		return "", false, fmt.Errorf("opauth: certificate of %s: %w", c.Subject.CommonName, err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if e, ok := k.keys[id]; ok && string(e.der) == string(der) {
		return id, false, nil
	}
	if _, ok := k.keys[id]; !ok && len(k.keys) >= k.max {
		return "", false, fmt.Errorf("opauth: certificate of %s: %d origins known, the limit", id, k.max)
	}
	k.keys[id] = keyEntry{pub: c.PublicKey, der: der}
	return id, true, nil
}

// Known reports whether origin's certificate is held.
func (k *Keyring) Known(origin string) bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	_, ok := k.keys[origin]
	return ok
}

// Cert is origin's certificate (DER), or nil.
func (k *Keyring) Cert(origin string) []byte {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.keys[origin].der
}

// Verify checks h's signature with its origin's key.
func (k *Keyring) Verify(h *Head) error {
	k.mu.RLock()
	e, ok := k.keys[h.Origin]
	k.mu.RUnlock()
	if !ok {
		return fmt.Errorf("%w %s", ErrUnknownOrigin, h.Origin)
	}
	if !verifySig(e.pub, h) {
		return fmt.Errorf("%w (head %d@%s)", ErrBadSignature, h.Seq, h.Origin)
	}
	return nil
}

// AppendHead appends the stored form of h (without its origin, which the
// store key holds): uvarint seq, the chain value, the signature.
func AppendHead(b []byte, h *Head) []byte {
	b = binary.AppendUvarint(b, h.Seq)
	b = append(b, h.Chain[:]...)
	return append(b, h.Sig...)
}

// maxSig bounds a stored or received signature (an RSA-4096 signature is
// 512 bytes).
const maxSig = 1024

// DecodeHead decodes AppendHead's form for origin.
func DecodeHead(origin string, b []byte) (*Head, error) {
	seq, n := binary.Uvarint(b)
	if n <= 0 || len(b)-n < 32 {
		return nil, errors.New("opauth: head: truncated")
	}
	h := &Head{Origin: origin, Seq: seq}
	copy(h.Chain[:], b[n:n+32])
	if rest := b[n+32:]; len(rest) > 0 {
		if len(rest) > maxSig {
			return nil, fmt.Errorf("opauth: head: signature of %d bytes", len(rest))
		}
		h.Sig = append([]byte(nil), rest...)
	}
	return h, nil
}

// Valid checks a received head's shape.
func (h *Head) Valid() error {
	switch {
	case h.Seq == 0:
		return errors.New("head at seq 0")
	case len(h.Sig) == 0:
		return errors.New("head without a signature")
	case len(h.Sig) > maxSig:
		return fmt.Errorf("head signature of %d bytes", len(h.Sig))
	}
	return nil
}
