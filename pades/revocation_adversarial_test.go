package pades

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/signet-b24/signet/internal/testsupport/testpki"
)

// A hostile responder is refused clearly: an answer over the size cap, one that never comes, a
// redirect to a file: address, an AIA naming a non-HTTP address. None of them is read.
func TestAttackHostileRevocationResponder(t *testing.T) {
	f := newLTVFixture(t)
	huge := httpServe(t, func(w http.ResponseWriter) {
		chunk := bytes.Repeat([]byte{0x30}, 1<<16)
		for range 64 { // 4 MiB, over the 1 MiB cap below
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	slow := httpServeSlow(t)
	redirect := httpRedirect(t, "file:///etc/passwd")
	cases := []struct {
		name, url, want string
	}{
		{"huge body", huge, "larger than"},
		{"slow", slow, "Client.Timeout"},
		{"redirect to file", redirect, "redirect to a file: address"},
		{"ldap address", "ldap://127.0.0.1/cn=crl", "not an http or https address"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cert := f.ca.issueWith(int64(0x2001+i), "Hostile "+c.name, f.signer.Key.Public(), []string{c.url}, []string{c.url})
			fetch := &RevocationFetcher{MaxBytes: 1 << 20, Timeout: time.Second}
			_, err := fetch.OCSP(context.Background(), cert, f.ca.cert)
			if !errors.Is(err, ErrRevocationUnavailable) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("OCSP: %v, want %q", err, c.want)
			}
			_, err = fetch.CRL(context.Background(), cert, f.ca.cert)
			if !errors.Is(err, ErrRevocationUnavailable) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("CRL: %v, want %q", err, c.want)
			}
			if c.name != "slow" && !errors.Is(err, ErrRevocationRefused) {
				t.Errorf("not marked refused: %v", err)
			}
			if strings.Contains(err.Error(), "root:") {
				t.Errorf("a local file was read: %v", err)
			}
			// Nothing is written: the extension of a document signed with that certificate fails whole.
			s := Signer{Key: f.signer.Key, Certificate: cert, Chain: []*x509.Certificate{f.ca.cert}}
			doc, _, err := Sign(context.Background(), corpus(t, "invoice.pdf"), s, Options{})
			if err != nil {
				t.Fatal(err)
			}
			out, res, err := Extend(context.Background(), doc, ExtendOptions{Level: LevelLT, Roots: f.ca.roots(), Fetch: fetch})
			if !errors.Is(err, ErrRevocationUnavailable) || out != nil || res != nil {
				t.Errorf("extend: %v (%d bytes out)", err, len(out))
			}
		})
	}
}

// httpServe serves body(w) to every request.
func httpServe(t *testing.T, body func(w http.ResponseWriter)) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { body(w) }))
	t.Cleanup(srv.Close)
	return srv.URL
}

// httpServeSlow never answers (until the client gives up).
func httpServeSlow(t *testing.T) string {
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) }) // runs first
	return srv.URL
}

// httpRedirect redirects every request to target.
func httpRedirect(t *testing.T, target string) string {
	srv := httptest.NewServer(http.RedirectHandler(target, http.StatusFound))
	t.Cleanup(srv.Close)
	return srv.URL
}

// Revocation data forged into a DSS does not count: an OCSP response "good" signed by a responder
// the CA never delegated (its own self-made certificate with id-kp-OCSPSigning), and a CRL with the
// CA's name signed by another key, appended after the signature of a certificate the CA revoked.
// Offline the signature is not "good" (the document carries no data Signet can believe:
// indeterminate); online the CA's responder says revoked.
func TestAttackForgedRevocationDataInDSS(t *testing.T) {
	f := newLTVFixture(t)
	doc, _, err := Sign(context.Background(), corpus(t, "invoice.pdf"), f.signer, Options{Time: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	f.ca.revoke(f.signer.Certificate, time.Now().Add(-30*time.Minute))
	now := time.Now()
	fakeKey := testpki.P256Key(t)
	fakeResponder := testpki.SelfSigned(t, &x509.Certificate{SerialNumber: big.NewInt(66), Subject: pkix.Name{CommonName: "LTV Test OCSP Responder"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}}, fakeKey)
	goodOCSP, err := ocsp.CreateResponse(f.ca.cert, fakeResponder, ocsp.Response{Status: ocsp.Good, SerialNumber: f.signer.Certificate.SerialNumber,
		ThisUpdate: now, NextUpdate: now.Add(time.Hour), Certificate: fakeResponder}, fakeKey)
	if err != nil {
		t.Fatal(err)
	}
	fakeCA := testpki.SelfSigned(t, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: f.ca.cert.Subject, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}, fakeKey)
	emptyCRL, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(9), ThisUpdate: now, NextUpdate: now.Add(time.Hour)}, fakeCA, fakeKey)
	if err != nil {
		t.Fatal(err)
	}
	_, infos := f.verify(t, doc, nil)
	set := &validationSet{}
	e := set.entry(infos[0].contents)
	e.certs, e.ocsps, e.crls = [][]byte{f.ca.cert.Raw, fakeResponder.Raw}, [][]byte{goodOCSP}, [][]byte{emptyCRL}
	forged, _, err := writeDSS(context.Background(), doc, set, now)
	if err != nil {
		t.Fatal(err)
	}
	_, infos = f.verify(t, forged, nil)
	if in := infos[0]; in.Revocation == RevocationGood || in.Verdict() == VerdictValid {
		t.Errorf("forged revocation data believed: %s %q", in.Verdict(), in.Revocation)
	}
	_, infos = f.verify(t, forged, &RevocationFetcher{})
	if in := infos[0]; in.Revocation != RevocationRevoked || in.Verdict() != VerdictInvalid {
		t.Errorf("online, the CA's answer: %s %q", in.Verdict(), in.Revocation)
	}
}
