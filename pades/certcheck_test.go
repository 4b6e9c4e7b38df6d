package pades

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// CheckCertificate, what `signet sign --check-revocation` asks: good from an openssl OCSP
// responder on loopback, revoked once the CA revokes, good at a time before the revocation, and
// ErrRevocationUnavailable when nothing answers.
func TestCheckCertificateOnline(t *testing.T) {
	f := newLTVFixture(t)
	ctx := context.Background()
	cert, issuer := f.signer.Certificate, f.ca.cert
	st, err := CheckCertificate(ctx, &RevocationFetcher{}, cert, issuer, time.Now())
	if err != nil || st.Status != RevocationGood || !st.OCSP || !strings.HasPrefix(st.Source, "OCSP http://127.0.0.1") {
		t.Fatalf("before revocation: %+v %v", st, err)
	}
	revokedAt := time.Now().Add(-30 * time.Minute).Truncate(time.Second)
	f.ca.revoke(cert, revokedAt)
	st, err = CheckCertificate(ctx, &RevocationFetcher{}, cert, issuer, time.Now())
	if err != nil || st.Status != RevocationRevoked || !st.RevokedAt.Equal(revokedAt) {
		t.Errorf("revoked: %+v %v (want revoked at %s)", st, err, revokedAt)
	}
	if st, err = CheckCertificate(ctx, &RevocationFetcher{}, cert, issuer, revokedAt.Add(-time.Minute)); err != nil || st.Status != RevocationGood {
		t.Errorf("at a time before the revocation: %+v %v", st, err)
	}
	f.ca.close()
	if st, err = CheckCertificate(ctx, &RevocationFetcher{Timeout: 2 * time.Second}, cert, issuer, time.Now()); !errors.Is(err, ErrRevocationUnavailable) {
		t.Errorf("responder down: %+v %v", st, err)
	}
}
