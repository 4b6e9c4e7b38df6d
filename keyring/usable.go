package keyring

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/signet-b24/signet/contracts"
)

// ErrRevoked means the internal CA revoked the certificate (signet admin ca revoke).
var ErrRevoked = errors.New("certificate revoked")

// CheckUsable is the one check, before the key is asked to sign (issue 17 must 3: "refused before
// C_Sign"), that a credential may sign at now: its certificate is inside its validity period
// (CheckValid) and not on the internal CA's list of revoked certificates that src reads (nil: not
// checked). The workers call it for every job and `signet sign` before it opens a document, so the
// rule and its wording are the same at every door.
//
// An expired, not yet valid or revoked certificate is an error wrapping ErrExpired, ErrNotYetValid
// or ErrRevoked that says what to do; a list that cannot be read is an error wrapping neither (the
// caller decides whether to retry or to refuse).
func (c *Credential) CheckUsable(ctx context.Context, now time.Time, src RevocationSource) error {
	if err := c.CheckValid(now); err != nil {
		return err
	}
	if src == nil {
		return nil
	}
	r, err := RevokedBy(ctx, c.Certificate, src)
	if err != nil {
		return fmt.Errorf("reading the internal CA's revoked certificates: %w", err)
	}
	if r != nil {
		return fmt.Errorf("%w: the certificate %q of %s (serial %s) was revoked on %s; issue a new one (signet admin ca issue)",
			ErrRevoked, c.Certificate.Subject.String(), c.URI, r.Serial, r.RevokedAt.UTC().Format("2006-01-02 15:04 MST"))
	}
	return nil
}

// RevokedBy returns the revocation of cert on the list src reads, or nil. A revocation by serial
// alone counts for any certificate with that serial (contracts.Revocation.Matches).
func RevokedBy(ctx context.Context, cert *x509.Certificate, src RevocationSource) (*contracts.Revocation, error) {
	if cert == nil {
		return nil, nil
	}
	list, err := src.Revocations(ctx)
	if err != nil {
		return nil, err
	}
	serial := contracts.NormalSerial(cert.SerialNumber.Text(16))
	issuer := hex.EncodeToString(cert.AuthorityKeyId)
	for _, r := range list {
		if r.Matches(serial, issuer) {
			return &r, nil
		}
	}
	return nil, nil
}
