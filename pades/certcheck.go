package pades

// The revocation status of one certificate now, asked of its issuer's services: what `signet sign
// --check-revocation` reads before the key signs (issue 17 must 3). It fetches and judges as B-LT
// does (RevocationFetcher's caps, ocspJudged/crlJudged), so the CLI and the verifier cannot
// disagree about what a responder said.

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"
)

// CertificateStatus is what a certificate's OCSP responder or CRL said about it.
type CertificateStatus struct {
	Status    RevocationStatus // RevocationGood, RevocationRevoked or RevocationUnknown
	RevokedAt time.Time        // when Status is RevocationRevoked
	OCSP      bool             // the answer is an OCSP response (else a CRL)
	Source    string           // "OCSP <url>" or "CRL <url>"
}

// CheckCertificate asks cert's OCSP responders (RFC 5280 §4.2.2.1, RFC 6960 §A.1), then its CRL
// distribution points (§4.2.1.13), for its status at time at. The first answer signed by issuer (or
// a responder issuer delegated, RFC 6960 §4.2.2.2) whose next update has not passed at at decides;
// a revocation dated after at leaves the certificate good at at (EN 319 102-1 §5.6.2.4). The error
// wraps ErrRevocationUnavailable when no source gave a usable answer and lists what each said.
func CheckCertificate(ctx context.Context, f *RevocationFetcher, cert, issuer *x509.Certificate, at time.Time) (CertificateStatus, error) {
	ri, err := fetchRevocationIf(ctx, f, cert, issuer, func(ri *revInfo) error {
		if !ri.nextUpdate.IsZero() && at.After(ri.nextUpdate) {
			return fmt.Errorf("%w: the answer of %s is stale (next update %s)", ErrRevocationUnavailable, ri.url, ri.nextUpdate.UTC().Format(time.RFC3339))
		}
		return nil
	})
	if err != nil {
		return CertificateStatus{}, err
	}
	st := CertificateStatus{Status: ri.status, OCSP: ri.isOCSP, Source: ri.source}
	if ri.status == RevocationRevoked {
		if ri.revokedAt.After(at) {
			st.Status = RevocationGood
		} else {
			st.RevokedAt = ri.revokedAt
		}
	}
	return st, nil
}
