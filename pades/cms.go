package pades

// CMS SignedData for PAdES baseline signatures (RFC 5652 §5, ETSI EN 319 142-1 §6.3 with CAdES
// signed attributes from ETSI EN 319 122-1).
//
// Why our own encoder rather than github.com/digitorus/pkcs7: that library always adds a
// signing-time attribute (forbidden by PAdES, the time goes in the signature dictionary's /M),
// defaults to SHA-1, has no RSA-PSS and hashes the content itself, so the whole ByteRange would
// have to be in memory. Signing a pre-computed digest lets SignFile stream the document, and a
// crypto.Signer from a PKCS#11 token (crypto11) works as it is.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	encasn1 "encoding/asn1"
	"fmt"
	"slices"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

var (
	oidData                  = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData            = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidAttrContentType       = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidAttrMessageDigest     = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidAttrSigningTime       = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidAttrSigningCertV2     = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	oidAttrTimeStampToken    = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 14}
	oidRSAEncryption         = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidRSASSAPSS             = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidMGF1                  = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidSHA256                = encasn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384                = encasn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512                = encasn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	oidECDSAWithSHA256       = encasn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384       = encasn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSAWithSHA512       = encasn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	oidTSTInfo               = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}
	tagContext0Constructed   = asn1.Tag(0).ContextSpecific().Constructed()
	tagContext1Constructed   = asn1.Tag(1).ContextSpecific().Constructed()
	tagContext2Constructed   = asn1.Tag(2).ContextSpecific().Constructed()
	tagContext4Constructed   = asn1.Tag(4).ContextSpecific().Constructed()
	supportedHashes          = []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512}
	errUnsupportedKey        = fmt.Errorf("%w: key type not supported (RSA or ECDSA only)", ErrBadSigner)
	errUnsupportedDigestHash = fmt.Errorf("%w: digest must be SHA-256, SHA-384 or SHA-512", ErrBadSigner)
)

func hashOID(h crypto.Hash) (encasn1.ObjectIdentifier, error) {
	switch h {
	case crypto.SHA256:
		return oidSHA256, nil
	case crypto.SHA384:
		return oidSHA384, nil
	case crypto.SHA512:
		return oidSHA512, nil
	}
	return nil, errUnsupportedDigestHash
}

// cmsParams is what the CMS needs besides the document digest.
type cmsParams struct {
	hash crypto.Hash
	pss  bool
	tsa  Timestamper
	// eContentType/eContent are set only for encapsulated content (used by the test TSA for
	// TSTInfo); PAdES signatures are detached: id-data without content.
	eContentType encasn1.ObjectIdentifier
	eContent     []byte
}

// addAlgorithmIdentifier writes an AlgorithmIdentifier with absent parameters (RFC 5754 §2 for SHA-2).
func addAlgorithmIdentifier(b *cryptobyte.Builder, oid encasn1.ObjectIdentifier) {
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oid) })
}

// signatureAlgorithm returns the DER AlgorithmIdentifier of SignerInfo.signatureAlgorithm and the
// crypto.SignerOpts to sign with (RFC 5652 §5.3, RFC 4055 for RSASSA-PSS, RFC 5758 for ECDSA).
func signatureAlgorithm(pub crypto.PublicKey, h crypto.Hash, pss bool) ([]byte, crypto.SignerOpts, error) {
	hoid, err := hashOID(h)
	if err != nil {
		return nil, nil, err
	}
	var b cryptobyte.Builder
	var opts crypto.SignerOpts = h
	switch pub.(type) {
	case *rsa.PublicKey:
		if pss {
			opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidRSASSAPSS)
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { // RSASSA-PSS-params
					b.AddASN1(tagContext0Constructed, func(b *cryptobyte.Builder) {
						b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1ObjectIdentifier(hoid)
							b.AddASN1NULL()
						})
					})
					b.AddASN1(tagContext1Constructed, func(b *cryptobyte.Builder) {
						b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1ObjectIdentifier(oidMGF1)
							b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
								b.AddASN1ObjectIdentifier(hoid)
								b.AddASN1NULL()
							})
						})
					})
					b.AddASN1(tagContext2Constructed, func(b *cryptobyte.Builder) { b.AddASN1Int64(int64(h.Size())) })
				})
			})
		} else {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidRSAEncryption)
				b.AddASN1NULL()
			})
		}
	case *ecdsa.PublicKey:
		if pss {
			return nil, nil, fmt.Errorf("%w: RSA-PSS requested for an ECDSA key", ErrBadSigner)
		}
		oid := map[crypto.Hash]encasn1.ObjectIdentifier{crypto.SHA256: oidECDSAWithSHA256,
			crypto.SHA384: oidECDSAWithSHA384, crypto.SHA512: oidECDSAWithSHA512}[h]
		addAlgorithmIdentifier(&b, oid)
	default: // Ed25519 has no PAdES profile in ETSI EN 319 142-1 baseline; DSA is obsolete

		return nil, nil, errUnsupportedKey
	}
	der, err := b.Bytes()
	return der, opts, err
}

// signedAttributes returns the DER of each signed attribute, in DER SET OF order.
// PAdES B-B (ETSI EN 319 142-1 §6.3): content-type, message-digest, ESS signing-certificate-v2
// (RFC 5035), and no signing-time.
func signedAttributes(contentType encasn1.ObjectIdentifier, digest []byte, cert *x509.Certificate) ([][]byte, error) {
	certHash := sha256.Sum256(cert.Raw)
	attrs := make([][]byte, 0, 3)
	add := func(oid encasn1.ObjectIdentifier, value func(b *cryptobyte.Builder)) error {
		var b cryptobyte.Builder
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oid)
			b.AddASN1(asn1.SET, value)
		})
		der, err := b.Bytes()
		attrs = append(attrs, der)
		return err
	}
	if err := add(oidAttrContentType, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(contentType) }); err != nil {
		return nil, err
	}
	if err := add(oidAttrMessageDigest, func(b *cryptobyte.Builder) { b.AddASN1OctetString(digest) }); err != nil {
		return nil, err
	}
	// SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2 }; ESSCertIDv2 with the
	// hashAlgorithm omitted because SHA-256 is its DEFAULT (DER), and IssuerSerial present.
	err := add(oidAttrSigningCertV2, func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1OctetString(certHash[:])
					b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { // GeneralNames
							b.AddASN1(tagContext4Constructed, func(b *cryptobyte.Builder) { // directoryName
								b.AddBytes(cert.RawIssuer)
							})
						})
						b.AddASN1BigInt(cert.SerialNumber)
					})
				})
			})
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(attrs, bytes.Compare) // X.690 §11.6: SET OF components in ascending order
	return attrs, nil
}

// buildCMS returns a DER ContentInfo holding a detached SignedData over digest (the hash of the
// ByteRange), signed by s with the signed attributes of PAdES B-B, and, with a Timestamper, the
// signature-time-stamp unsigned attribute of B-T (ETSI EN 319 122-1 §5.3).
func buildCMS(ctx context.Context, digest []byte, s Signer, p cmsParams) ([]byte, error) {
	if s.Key == nil || s.Certificate == nil {
		return nil, fmt.Errorf("%w: key and certificate are required", ErrBadSigner)
	}
	hoid, err := hashOID(p.hash)
	if err != nil {
		return nil, err
	}
	sigAlg, opts, err := signatureAlgorithm(s.Certificate.PublicKey, p.hash, p.pss)
	if err != nil {
		return nil, err
	}
	contentType := oidData
	if p.eContentType != nil {
		contentType = p.eContentType
	}
	attrs, err := signedAttributes(contentType, digest, s.Certificate)
	if err != nil {
		return nil, err
	}
	// RFC 5652 §5.4: the signature covers the DER of the attributes with an explicit SET OF tag.
	var ab cryptobyte.Builder
	ab.AddASN1(asn1.SET, func(b *cryptobyte.Builder) {
		for _, a := range attrs {
			b.AddBytes(a)
		}
	})
	attrSet, err := ab.Bytes()
	if err != nil {
		return nil, err
	}
	hh := p.hash.New()
	hh.Write(attrSet)
	sig, err := s.Key.Sign(rand.Reader, hh.Sum(nil), opts)
	if err != nil {
		return nil, fmt.Errorf("%w: the key refused to sign: %w", ErrBadSigner, err)
	}
	var token []byte
	if p.tsa != nil {
		th := p.hash.New()
		th.Write(sig)
		token, err = p.tsa.Timestamp(ctx, th.Sum(nil), p.hash)
		if err != nil {
			return nil, fmt.Errorf("timestamp authority: %w", err)
		}
	}

	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { // ContentInfo
		b.AddASN1ObjectIdentifier(oidSignedData)
		b.AddASN1(tagContext0Constructed, func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { // SignedData
				version := int64(1)
				if p.eContentType != nil {
					version = 3 // RFC 5652 §5.1: eContentType other than id-data
				}
				b.AddASN1Int64(version)
				b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) { addAlgorithmIdentifier(b, hoid) })
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { // EncapsulatedContentInfo
					b.AddASN1ObjectIdentifier(contentType)
					if p.eContent != nil {
						b.AddASN1(tagContext0Constructed, func(b *cryptobyte.Builder) { b.AddASN1OctetString(p.eContent) })
					}
				})
				b.AddASN1(tagContext0Constructed, func(b *cryptobyte.Builder) { // certificates
					b.AddBytes(s.Certificate.Raw)
					for _, c := range s.Chain {
						if c != nil && !c.Equal(s.Certificate) {
							b.AddBytes(c.Raw)
						}
					}
				})
				b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) { // signerInfos
					b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1Int64(1)
						b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { // IssuerAndSerialNumber
							b.AddBytes(s.Certificate.RawIssuer)
							b.AddASN1BigInt(s.Certificate.SerialNumber)
						})
						addAlgorithmIdentifier(b, hoid)
						b.AddASN1(tagContext0Constructed, func(b *cryptobyte.Builder) {
							for _, a := range attrs {
								b.AddBytes(a)
							}
						})
						b.AddBytes(sigAlg)
						b.AddASN1OctetString(sig)
						if token != nil {
							b.AddASN1(tagContext1Constructed, func(b *cryptobyte.Builder) {
								b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
									b.AddASN1ObjectIdentifier(oidAttrTimeStampToken)
									b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) { b.AddBytes(token) })
								})
							})
						}
					})
				})
			})
		})
	})
	return b.Bytes()
}

// checkSigner makes sure the key belongs to the certificate: a mismatch would give a signature that
// no one can verify, so it is caught before any work.
func checkSigner(s Signer, h crypto.Hash) error {
	if s.Key == nil || s.Certificate == nil {
		return fmt.Errorf("%w: key and certificate are required", ErrBadSigner)
	}
	if !slices.Contains(supportedHashes, h) {
		return errUnsupportedDigestHash
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if pk, ok := s.Key.Public().(equaler); ok && !pk.Equal(s.Certificate.PublicKey) {
		return fmt.Errorf("%w: the key does not match certificate %q", ErrBadSigner, s.Certificate.Subject.String())
	}
	return nil
}

// estimateCMSSize returns a safe upper bound of the CMS size in bytes, used to reserve /Contents.
func estimateCMSSize(s Signer, tsa bool) int {
	n := len(s.Certificate.Raw) + 1024
	for _, c := range s.Chain {
		if c != nil {
			n += len(c.Raw) + 16
		}
	}
	switch k := s.Certificate.PublicKey.(type) {
	case *rsa.PublicKey:
		n += k.Size() + 64
	default:
		n += 160
	}
	if tsa {
		n += 12 * 1024 // a token with its TSA certificate chain
	}
	n += 1024 // headroom
	return (n + 1023) / 1024 * 1024
}
