package keyring

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"math/big"
	"testing"

	"golang.org/x/crypto/ocsp"
	"golang.org/x/time/rate"

	"github.com/signet-b24/signet/contracts"
)

// listedRevocations stands in for the NATS KV list (producer/identity/revocations.go is its store).
type listedRevocations []contracts.Revocation

func (l listedRevocations) Revocations(context.Context) ([]contracts.Revocation, error) {
	return l, nil
}

// ocspDER is an OCSP request (SHA-256 key hash) for serial of issuer's CA.
func ocspDER(t *testing.T, issuer *x509.Certificate, serial *big.Int) []byte {
	t.Helper()
	probe := &x509.Certificate{SerialNumber: serial, RawIssuer: issuer.RawSubject}
	der, err := ocsp.CreateRequest(probe, issuer, &ocsp.RequestOptions{Hash: crypto.SHA256})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// A flood of OCSP requests for new serials is answered tryLater beyond signsPerSecond, while a
// cached answer is still served; what cannot be read is malformedRequest, an unknown CA's CRL
// ErrUnknownCA. (The HTTP form of the responder is tested in web/revocation_test.go, with openssl
// and pdfsig as judges.)
func TestOCSPFloodAnsweredTryLater(t *testing.T) {
	// Ten signatures and no more, whatever the machine's speed.
	defer func(r rate.Limit, b int) { signsPerSecond, signBurst = r, b }(signsPerSecond, signBurst)
	signsPerSecond, signBurst = 0, 10
	_, cfgs := softhsmStore(t, "ca")
	k := openKeyring(t, cfgs)
	ctx := context.Background()
	root, err := k.InitCA(ctx, "ca", "root", "CN=Acme Internal Root CA,O=Acme", P256, 3650)
	if err != nil {
		t.Fatal(err)
	}
	mary, err := k.Issue(ctx, root.URI, "ca", "mary", "CN=Mary,O=Acme", P256, 365)
	if err != nil {
		t.Fatal(err)
	}
	p := NewResponder(k, listedRevocations{{Serial: contracts.NormalSerial(mary.Certificate.SerialNumber.Text(16)), Reason: 4}}, nil)
	answer, ok := p.OCSP(ctx, ocspDER(t, root.Certificate, mary.Certificate.SerialNumber))
	got, err := ocsp.ParseResponse(answer, root.Certificate)
	if !ok || err != nil || got.Status != ocsp.Revoked || got.RevocationReason != 4 {
		t.Fatalf("mary's status: %v %v %+v", ok, err, got)
	}
	if answer, ok := p.OCSP(ctx, []byte("not an OCSP request")); ok || string(answer) != string(ocsp.MalformedRequestErrorResponse) {
		t.Errorf("junk: %v %x, want malformedRequest", ok, answer)
	}
	if _, err := p.CRL(ctx, "deadbeef"); !errors.Is(err, ErrUnknownCA) {
		t.Errorf("CRL of an unknown CA: %v", err)
	}
	tryLater := 0
	for i := range 120 {
		answer, ok := p.OCSP(ctx, ocspDER(t, root.Certificate, big.NewInt(int64(1000+i))))
		if !ok && string(answer) == string(ocsp.TryLaterErrorResponse) {
			tryLater++
		}
	}
	if tryLater != 120-(signBurst-1) { // mary's answer above signed one
		t.Errorf("%d of 120 requests for new serials answered tryLater, want %d", tryLater, 120-(signBurst-1))
	}
	answer, ok = p.OCSP(ctx, ocspDER(t, root.Certificate, mary.Certificate.SerialNumber))
	if got, err := ocsp.ParseResponse(answer, root.Certificate); !ok || err != nil || got.Status != ocsp.Revoked {
		t.Errorf("the cached answer during the flood: %v %v", ok, err)
	}
}
