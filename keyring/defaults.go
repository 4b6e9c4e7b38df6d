package keyring

import (
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"time"
)

// Purpose is what a certificate Signet makes is for. Every default of a certificate (key, validity,
// extensions) follows from it, here and nowhere else: `signet admin cert|ca`, the admin API and the
// control panel pass on only what the administrator typed, and the keyring fills in the rest.
type Purpose string

const (
	// ForSigner is a document-signing certificate: an employee's, or a company seal's.
	ForSigner Purpose = "signer"
	// ForCA is the internal CA that issues signers' certificates.
	ForCA Purpose = "ca"
)

// Profile is the whole shape of a certificate of one purpose.
type Profile struct {
	Purpose Purpose
	// KeyType and Days are the defaults when the administrator gives none.
	KeyType KeyType
	Days    int
	// KeyUsage, ExtKeyUsage and OtherExtKeyUsage are the key usage extensions (RFC 5280 §4.2.1.3,
	// §4.2.1.12); Go marks key usage critical.
	KeyUsage         x509.KeyUsage
	ExtKeyUsage      []x509.ExtKeyUsage
	OtherExtKeyUsage []asn1.ObjectIdentifier
	// IsCA and MaxPathLen are the basic constraints (RFC 5280 §4.2.1.9, critical in both cases);
	// MaxPathLen is meaningful only for a CA.
	IsCA       bool
	MaxPathLen int
}

// The defaults. Why these:
//
//   - Key types. ETSI TS 119 312 (cryptographic suites for eIDAS signatures) and the SOG-IS Agreed
//     Cryptographic Mechanisms keep RSA below 3000 bits only as legacy after 2025, and agree ECDSA on
//     P-256 and P-384. A signer gets ECDSA P-256: agreed for the certificate's short life, supported by
//     Acrobat, NSS (pdfsig, Firefox), Windows and current USB tokens, about three times the documents
//     per second of RSA-2048 on a token and half the CMS size (reference/pdf-signing-notes.md). The CA
//     gets P-384: it lives ten years and every signer's trust hangs on it. rsa3072 stays available
//     for readers or tokens without ECDSA; rsa2048 only for old tokens that can do nothing else.
//   - Validity. A signer's certificate lasts a year (a yearly renewal is what public CAs do for
//     document-signing certificates, and what the 30-day expiry warning is tuned for); it never
//     outlives its CA (Issue cuts it). The CA lasts ten years, so that employees install its root once.
//     notBefore is backdated by clockSkew so verifiers with a slow clock do not see "not yet valid".
//   - Signer extensions. ETSI EN 319 412-2 §4.3.2: a certificate that validates commitment to signed
//     content carries nonRepudiation (contentCommitment), here with digitalSignature (its type B);
//     the key usage is critical. Extended key usage id-kp-documentSigning (RFC 9336) says what the key
//     is for; emailProtection is listed beside it because NSS-based readers (poppler's pdfsig,
//     Firefox) validate a PDF signer for the "email signer" usage and call a certificate without it
//     untrusted. Basic constraints CA:FALSE (RFC 5280 §4.2.1.9).
//   - CA extensions. RFC 5280 §4.2.1.9 and §4.2.1.3: CA:TRUE with path length 0 (it issues employees'
//     certificates, never another CA) and key usage keyCertSign, cRLSign and digitalSignature: the CA
//     signs its OCSP responses itself (RFC 6960 §4.2.2.2; keyring/revocation.go), and digitalSignature
//     is the usage of such a signature (RFC 5280 §4.2.1.3; the CA/Browser Forum profile requires it of
//     a CA that signs OCSP responses). A delegated responder certificate (id-kp-OCSPSigning with
//     ocsp-nocheck) was the alternative: one more key and certificate to issue, store and renew, for
//     nothing a single-tier internal CA needs. CAs made before keep working (docs/keys.md).
//   - Serial numbers: 127 random bits plus one, so positive, at most 16 octets (RFC 5280 §4.1.2.2
//     allows 20) and far above the 64 bits of entropy CA/Browser Forum BR §7.1 asks for.
//   - Subject: written by the administrator (RFC 4514, ParseSubject); a CN is required because it is
//     the signer's name a PDF reader shows. ETSI EN 319 412-2 §4.2.4 also asks countryName and the
//     name split into givenName/surname for qualified certificates of natural persons; Signet's
//     internal CA is not a qualified trust service, so those are recommended (C=RU, GN=, SN=), not
//     enforced.
//   - Subject key identifier: RFC 5280 §4.2.1.2 method (1); the authority key identifier is the
//     issuer's.
var profiles = map[Purpose]Profile{
	ForSigner: {
		Purpose:          ForSigner,
		KeyType:          P256,
		Days:             365,
		KeyUsage:         x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		ExtKeyUsage:      []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		OtherExtKeyUsage: []asn1.ObjectIdentifier{OIDExtKeyUsageDocumentSigning},
	},
	ForCA: {
		Purpose:    ForCA,
		KeyType:    P384,
		Days:       3650,
		KeyUsage:   x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		IsCA:       true,
		MaxPathLen: 0,
	},
}

const (
	// MaxDays bounds any validity an administrator asks for (a hundred years): beyond it the number is
	// a typing mistake, not a policy.
	MaxDays = 36500
	// serialBits is the randomness in a serial number (see above).
	serialBits = 127
	// clockSkew backdates notBefore (see above).
	clockSkew = 5 * time.Minute
)

// KeyTypes lists the key types Signet generates, in the order forms show them.
var KeyTypes = []KeyType{P256, P384, RSA3072, RSA2048}

// ProfileFor returns the shape of a certificate of purpose p (a signer's for an unknown purpose).
func ProfileFor(p Purpose) Profile {
	if pr, ok := profiles[p]; ok {
		return pr
	}
	return profiles[ForSigner]
}

// Choose is the one rule for what an administrator asked: an empty key type and zero days take the
// purpose's defaults; anything else must be a key type Signet generates and a validity of 1 to
// MaxDays days. The error says what to give instead.
func (p Purpose) Choose(kt KeyType, days int) (KeyType, int, error) {
	pr := ProfileFor(p)
	if kt == "" {
		kt = pr.KeyType
	}
	if !kt.valid() {
		return "", 0, fmt.Errorf("%w: key type %q; use p256, p384, rsa3072 or rsa2048 (default %s for a %s)", ErrInvalidConfig, kt, pr.KeyType, p.noun())
	}
	if days == 0 {
		days = pr.Days
	}
	if days < 1 || days > MaxDays {
		return "", 0, fmt.Errorf("%w: validity %d days; give 1 to %d days (default %d for a %s)", ErrInvalidConfig, days, MaxDays, pr.Days, p.noun())
	}
	return kt, days, nil
}

func (p Purpose) noun() string {
	if p == ForCA {
		return "CA"
	}
	return "signer"
}

func (kt KeyType) valid() bool {
	for _, k := range KeyTypes {
		if k == kt {
			return true
		}
	}
	return false
}

// DefaultsText describes the defaults in one line, for help texts and forms.
func DefaultsText() string {
	s, c := profiles[ForSigner], profiles[ForCA]
	return fmt.Sprintf("%s (%s) for %d days for a signer, %s (%s) for %d days for a CA",
		s.KeyType.Description(), s.KeyType, s.Days, c.KeyType.Description(), c.KeyType, c.Days)
}

// Description names the key type as people read it, e.g. ECDSA P-256 or RSA-3072 (as KeyDescription
// names an existing key).
func (kt KeyType) Description() string {
	switch kt {
	case P256:
		return "ECDSA P-256"
	case P384:
		return "ECDSA P-384"
	case RSA2048:
		return "RSA-2048"
	case RSA3072:
		return "RSA-3072"
	}
	return string(kt)
}
