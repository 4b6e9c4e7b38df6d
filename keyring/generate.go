package keyring

import (
	"bytes"
	"context"
	"crypto"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ThalesIgnite/crypto11"
	"github.com/miekg/pkcs11"
)

// KeyType is the algorithm and size of a key generated on a token.
type KeyType string

const (
	RSA2048 KeyType = "rsa2048"
	RSA3072 KeyType = "rsa3072"
	P256    KeyType = "p256"
	P384    KeyType = "p384"
)

// OIDExtKeyUsageDocumentSigning is id-kp-documentSigning (RFC 9336), the extended key usage of a
// certificate meant for signing documents such as PDFs.
var OIDExtKeyUsageDocumentSigning = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 36}

// validity is the certificate period; tests use it to make expired and not-yet-valid certificates.
type validity struct{ notBefore, notAfter time.Time }

// validFor applies the purpose's defaults (defaults.go) to what was asked and returns the key type and
// the period.
func validFor(p Purpose, kt KeyType, days int) (KeyType, validity, error) {
	kt, days, err := p.Choose(kt, days)
	if err != nil {
		return "", validity{}, err
	}
	now := time.Now().Add(-clockSkew).Truncate(time.Second)
	return kt, validity{notBefore: now, notAfter: now.Add(time.Duration(days) * 24 * time.Hour)}, nil
}

// GenerateSelfSigned generates a sign-only, non-extractable key on the token (CKA_SIGN true,
// CKA_DECRYPT false, CKA_EXTRACTABLE false, CKA_SENSITIVE true) and stores a self-signed signer's
// certificate (ProfileFor(ForSigner)) under the same label and CKA_ID. An empty key type and zero
// days take the signer's defaults.
func (k *Keyring) GenerateSelfSigned(ctx context.Context, token, label, subject string, kt KeyType, days int) (*Credential, error) {
	kt, v, err := validFor(ForSigner, kt, days)
	if err != nil {
		return nil, err
	}
	return k.generate(ctx, token, label, subject, kt, v, ForSigner, nil)
}

// InitCA generates a CA key on the token and stores its self-signed CA certificate
// (ProfileFor(ForCA)). An empty key type and zero days take the CA's defaults.
func (k *Keyring) InitCA(ctx context.Context, token, label, subject string, kt KeyType, days int) (*Credential, error) {
	kt, v, err := validFor(ForCA, kt, days)
	if err != nil {
		return nil, err
	}
	return k.generate(ctx, token, label, subject, kt, v, ForCA, nil)
}

// Issue generates a key on the token and stores a signer's certificate for it issued by the CA named
// by caURI (which may be on another token); the CA certificate and its chain are stored on the token
// too, so the credential carries its chain. The validity ends no later than the CA's. An empty key
// type and zero days take the signer's defaults.
func (k *Keyring) Issue(ctx context.Context, caURI, token, label, subject string, kt KeyType, days int) (*Credential, error) {
	kt, v, err := validFor(ForSigner, kt, days)
	if err != nil {
		return nil, err
	}
	ca, err := k.Credential(ctx, caURI)
	if err != nil {
		return nil, fmt.Errorf("issuing CA: %w", err)
	}
	if !ca.Certificate.IsCA || ca.Certificate.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("%w: %s is not a CA certificate (no CA basic constraint or keyCertSign); create one with InitCA", ErrInvalidConfig, ca.URI)
	}
	if err := ca.CheckValid(time.Now()); err != nil {
		return nil, fmt.Errorf("issuing CA: %w", err)
	}
	if v.notAfter.After(ca.Certificate.NotAfter) {
		v.notAfter = ca.Certificate.NotAfter
	}
	c, err := k.generate(ctx, token, label, subject, kt, v, ForSigner, ca)
	if err != nil {
		return nil, err
	}
	k.recordIssued(ctx, c, ca)
	return c, nil
}

// generate makes the key pair, the certificate (self-signed when issuer is nil), and stores both.
// When storing the certificate fails the new key is destroyed again, so a failed call leaves no
// key without certificate behind.
func (k *Keyring) generate(ctx context.Context, tokenName, label, subject string, kt KeyType, v validity, purpose Purpose, issuer *Credential) (*Credential, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t, err := k.tokenNamed(tokenName)
	if err != nil {
		return nil, err
	}
	if label == "" {
		return nil, fmt.Errorf("%w: the key label (object) must not be empty", ErrInvalidConfig)
	}
	name, err := ParseSubject(subject)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	// The key is generated in one token operation, certified outside it (the signature is a token
	// operation of its own, possibly on this very token: nesting them could deadlock against a
	// reconnect), and the certificate stored in a third.
	var newKey *key
	err = t.do(func(c p11Context, gen uint64) error {
		for _, class := range []uint{pkcs11.CKO_PRIVATE_KEY, pkcs11.CKO_CERTIFICATE} {
			objs, err := t.findObjects(class, pkcs11.NewAttribute(pkcs11.CKA_LABEL, label))
			if err != nil {
				return err
			}
			if len(objs) > 0 {
				return fmt.Errorf("%w: token %q already holds an object labelled %q; choose another label", ErrExists, t.name, label)
			}
		}
		signer, err := generateKey(c, id, []byte(label), kt)
		if err != nil {
			return fmt.Errorf("generate %s key %q on token %q: %w", kt, label, t.name, err)
		}
		uri := URI{Token: t.id.label, Object: label, ID: id}.String()
		newKey = &key{tok: t, id: id, label: []byte(label), pub: signer.Public(), uri: uri, gen: gen, signer: signer}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var parentKey crypto.Signer = newKey
	if issuer != nil {
		parentKey = issuer.Key
	}
	cert, err := makeCertificate(newKey.pub, parentKey, name, v, ProfileFor(purpose), issuer, k.revocationBase())
	if err == nil {
		err = t.do(func(c p11Context, _ uint64) error {
			if err := storeCertificate(c, id, []byte(label), cert); err != nil {
				return err
			}
			if issuer != nil {
				return storeChain(t, c, append([]*x509.Certificate{issuer.Certificate}, issuer.Chain...), issuer.ID, []byte(issuer.Label))
			}
			return nil
		})
	}
	if err != nil {
		derr := t.do(func(c p11Context, gen uint64) error {
			s, err := newKey.current(c, gen)
			if err != nil {
				return err
			}
			return s.Delete()
		})
		if derr != nil {
			err = errors.Join(err, fmt.Errorf("removing the new key again (remove %s by hand): %w", newKey.uri, derr))
		}
		return nil, fmt.Errorf("certificate for key %q on token %q: %w", label, t.name, err)
	}
	k.invalidate(t)
	cred, err := k.credential(ctx, t, id, []byte(label), true)
	if err != nil {
		return nil, fmt.Errorf("reading back the new credential: %w", err)
	}
	return cred, nil
}

// generateKey creates a sign-only key pair: crypto11's default templates also allow decrypt and
// unwrap, which a signing key must not (a decryption oracle on a signing key is a classic attack).
func generateKey(c p11Context, id, label []byte, kt KeyType) (crypto11.Signer, error) {
	pub, err := crypto11.NewAttributeSetWithIDAndLabel(id, label)
	if err != nil {
		return nil, err
	}
	priv := pub.Copy()
	set := func(a crypto11.AttributeSet, kv map[crypto11.AttributeType]bool) error {
		for t, v := range kv {
			if err := a.Set(t, v); err != nil {
				return err
			}
		}
		return nil
	}
	if err := set(pub, map[crypto11.AttributeType]bool{
		crypto11.CkaToken: true, crypto11.CkaPrivate: false, crypto11.CkaVerify: true,
		crypto11.CkaEncrypt: false, crypto11.CkaWrap: false,
	}); err != nil {
		return nil, err
	}
	if err := set(priv, map[crypto11.AttributeType]bool{
		crypto11.CkaToken: true, crypto11.CkaPrivate: true, crypto11.CkaSign: true,
		crypto11.CkaDecrypt: false, crypto11.CkaUnwrap: false, crypto11.CkaDerive: false,
		crypto11.CkaSensitive: true, crypto11.CkaExtractable: false,
	}); err != nil {
		return nil, err
	}
	switch kt {
	case RSA2048:
		return c.GenerateRSAKeyPairWithAttributes(pub, priv, 2048)
	case RSA3072:
		return c.GenerateRSAKeyPairWithAttributes(pub, priv, 3072)
	case P256:
		return c.GenerateECDSAKeyPairWithAttributes(pub, priv, elliptic.P256())
	case P384:
		return c.GenerateECDSAKeyPairWithAttributes(pub, priv, elliptic.P384())
	}
	return nil, fmt.Errorf("%w: key type %q; use rsa2048, rsa3072, p256 or p384", ErrInvalidConfig, kt)
}

// makeCertificate builds the certificate for pub in the shape of profile pr (RFC 5280; defaults.go says
// why each field) and signs it with parentKey: the issuer's key, or the key of pub itself for a
// self-signed certificate.
//
// A certificate issued by a CA names where its revocation status is published when base is set
// (revocation.go): the CRL distribution point (RFC 5280 §4.2.1.13) and the OCSP responder in the
// authority information access (RFC 5280 §4.2.2.1), so that verifiers find them by themselves.
func makeCertificate(pub crypto.PublicKey, parentKey crypto.Signer, subject pkix.Name, v validity, pr Profile, issuer *Credential, base string) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), serialBits))
	if err != nil {
		return nil, err
	}
	ski, err := subjectKeyID(pub)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial.Add(serial, big.NewInt(1)),
		Subject:               subject,
		NotBefore:             v.notBefore,
		NotAfter:              v.notAfter,
		SubjectKeyId:          ski,
		BasicConstraintsValid: true,
		IsCA:                  pr.IsCA,
		MaxPathLen:            pr.MaxPathLen,
		MaxPathLenZero:        pr.IsCA && pr.MaxPathLen == 0,
		KeyUsage:              pr.KeyUsage,
		ExtKeyUsage:           pr.ExtKeyUsage,
		UnknownExtKeyUsage:    pr.OtherExtKeyUsage,
	}
	parent := tmpl
	if issuer != nil {
		parent = issuer.Certificate
		if base != "" {
			tmpl.CRLDistributionPoints = []string{CRLURL(base, issuer.Certificate)}
			tmpl.OCSPServer = []string{OCSPURL(base)}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// subjectKeyID is RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey bit string.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, err
	}
	sum := sha1.Sum(spki.PublicKey.Bytes)
	return sum[:], nil
}

func storeCertificate(c p11Context, id, label []byte, cert *x509.Certificate) error {
	tmpl, err := crypto11.NewAttributeSetWithIDAndLabel(id, label)
	if err != nil {
		return err
	}
	return c.ImportCertificateWithAttributes(tmpl, cert)
}

// storeChain stores each chain certificate not yet on the token. The first (the direct issuer) gets
// issuerID/issuerLabel, so it reads as the CA's credential; the others their SKI and CN.
func storeChain(t *token, c p11Context, chain []*x509.Certificate, issuerID, issuerLabel []byte) error {
	have, err := t.findObjects(pkcs11.CKO_CERTIFICATE)
	if err != nil {
		return err
	}
next:
	for i, cert := range chain {
		for _, o := range have {
			if o.cert != nil && bytes.Equal(o.cert.Raw, cert.Raw) {
				continue next
			}
		}
		id, label := issuerID, issuerLabel
		if i > 0 || len(id) == 0 || len(label) == 0 {
			id = cert.SubjectKeyId
			if len(id) == 0 {
				sum := sha1.Sum(cert.Raw)
				id = sum[:8]
			}
			label = []byte(cert.Subject.CommonName)
			if len(label) == 0 {
				label = []byte("chain")
			}
		}
		if err := storeCertificate(c, id, label, cert); err != nil {
			return fmt.Errorf("store chain certificate %q: %w", cert.Subject.String(), err)
		}
	}
	return nil
}

// ImportCertificate stores cert for the key named by the key URI (replacing the key's current
// certificate, if any) under the key's CKA_ID and label, and stores the chain certificates the token
// does not hold yet. The certificate must carry the key's public key.
func (k *Keyring) ImportCertificate(ctx context.Context, uri string, cert *x509.Certificate, chain []*x509.Certificate) error {
	u, err := keyURI(uri)
	if err != nil {
		return err
	}
	if cert == nil {
		return fmt.Errorf("%w: no certificate given for %s", ErrInvalidConfig, u)
	}
	t, err := k.tokenFor(u)
	if err != nil {
		return err
	}
	var label []byte
	if u.Object != "" {
		label = []byte(u.Object)
	}
	k.invalidate(t)
	cred, err := k.credential(ctx, t, u.ID, label, false)
	if err != nil {
		return err
	}
	if eq, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(cred.Key.Public()) {
		return fmt.Errorf("%w: certificate %q is for another key than %s", ErrCertificateMismatch, cert.Subject.String(), cred.URI)
	}
	err = t.do(func(c p11Context, _ uint64) error {
		if err := t.destroyObjects(pkcs11.CKO_CERTIFICATE, cred.ID); err != nil {
			return fmt.Errorf("remove the old certificate of %s: %w", cred.URI, err)
		}
		if err := storeCertificate(c, cred.ID, []byte(cred.Label), cert); err != nil {
			return fmt.Errorf("store certificate for %s: %w", cred.URI, err)
		}
		if len(chain) > 0 {
			return storeChain(t, c, chain, nil, nil)
		}
		return nil
	})
	k.invalidate(t)
	return err
}
