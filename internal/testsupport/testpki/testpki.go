// Package testpki makes the keys and certificates that tests sign and verify with, failing the test
// when one cannot be made.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"testing"
)

// RSAKey returns a new RSA key of the given size in bits.
func RSAKey(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// P256Key returns a new ECDSA key on the P-256 curve.
func P256Key(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// Issue makes the certificate described by tmpl for pub, issued by parent and signed with
// parentKey, and returns it parsed.
func Issue(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, parentKey crypto.Signer) *x509.Certificate {
	t.Helper()
	var cert *x509.Certificate
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err == nil {
		cert, err = x509.ParseCertificate(der)
	}
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// SelfSigned makes the certificate described by tmpl for key, signed by key itself.
func SelfSigned(t testing.TB, tmpl *x509.Certificate, key crypto.Signer) *x509.Certificate {
	t.Helper()
	return Issue(t, tmpl, tmpl, key.Public(), key)
}
