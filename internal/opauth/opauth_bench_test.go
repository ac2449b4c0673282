package opauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/numax/numax/internal/crdt"
)

// BenchmarkSign and BenchmarkVerify are the cost of one head with the key
// nx cert makes (ECDSA P-256), per core: b.N heads on one goroutine.
func BenchmarkSign(b *testing.B) {
	s, _ := benchKeys(b)
	h := &Head{Origin: testOrigin, Seq: 1}
	b.ReportAllocs()
	for b.Loop() {
		h.Seq++
		if err := s.Sign(h); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	s, k := benchKeys(b)
	h := &Head{Origin: testOrigin, Seq: 7}
	if err := s.Sign(h); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := k.Verify(h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChain is the hash chain's cost per op (a counter increment).
func BenchmarkChain(b *testing.B) {
	var c Chainer
	op := &crdt.Op{Kind: crdt.GCounterInc, Origin: testOrigin, Seq: 1, HLC: 1 << 20, Key: "visits", Delta: 1}
	prev := Genesis(testOrigin)
	b.ReportAllocs()
	for b.Loop() {
		op.Seq++
		prev = c.Next(prev, op)
	}
}

const testOrigin = "0123456789abcdef0123456789abcdef"

func benchKeys(b *testing.B) (*Signer, *Keyring) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewSigner(key)
	if err != nil {
		b.Fatal(err)
	}
	k := NewKeyring(nil, 1)
	k.keys[testOrigin] = keyEntry{pub: &key.PublicKey}
	return s, k
}
