package keyring

import (
	"crypto/elliptic"
	"crypto/x509"

	"github.com/ThalesIgnite/crypto11"
)

// p11Context is the part of *crypto11.Context the keyring uses, named after crypto11's own methods
// (as smallstep's kms/pkcs11 does), so a reader sees at once which PKCS#11 operations Signet relies
// on: finding key pairs by CKA_ID/CKA_LABEL, reading their attributes, generating sign-only key
// pairs, storing certificates.
type p11Context interface {
	FindKeyPair(id, label []byte) (crypto11.Signer, error)
	FindKeyPairs(id, label []byte) ([]crypto11.Signer, error)
	GetAttributes(key interface{}, attributes []crypto11.AttributeType) (crypto11.AttributeSet, error)
	GenerateRSAKeyPairWithAttributes(public, private crypto11.AttributeSet, bits int) (crypto11.SignerDecrypter, error)
	GenerateECDSAKeyPairWithAttributes(public, private crypto11.AttributeSet, curve elliptic.Curve) (crypto11.Signer, error)
	ImportCertificateWithAttributes(template crypto11.AttributeSet, certificate *x509.Certificate) error
	Close() error
}

var _ p11Context = (*crypto11.Context)(nil)
