package web

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/internal/testsupport/testpki"
	"github.com/signet-b24/signet/pades"
)

// The public /verify page never fetches revocation data: the OCSP and CRL addresses come from an
// anonymous upload, and following them would let anyone make the server connect wherever they like
// (SSRF). A document whose second signer's certificate names a witness address as its OCSP
// responder and CRL, after a DSS that covers only the first signer, is judged from what it carries
// (the first signature good from the DSS, the second indeterminate) and the witness is never dialled.
func TestAttackVerifyPageFetchesNoRevocation(t *testing.T) {
	witness, dials := testenv.DialWitness(t)
	caKey := testpki.P256Key(t)
	now := time.Now()
	ca := testpki.SelfSigned(t, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "LTV Page CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}, caKey)
	responder := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := ocsp.ParseRequest(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp, _ := ocsp.CreateResponse(ca, ca, ocsp.Response{Status: ocsp.Good, SerialNumber: req.SerialNumber, ThisUpdate: time.Now()}, caKey)
		w.Write(resp)
	}))
	defer responder.Close()
	signer := func(serial int64, cn, aia string) pades.Signer {
		key := testpki.P256Key(t)
		cert := testpki.Issue(t, &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			OCSPServer: []string{aia}, CRLDistributionPoints: []string{aia + "/ca.crl"}}, ca, key.Public(), caKey)
		return pades.Signer{Key: key, Certificate: cert, Chain: []*x509.Certificate{ca}}
	}
	invoice, err := os.ReadFile("../testdata/pdf/invoice.pdf")
	if err != nil {
		t.Fatal(err)
	}
	first, _, err := pades.Sign(context.Background(), invoice, signer(2, "First Signer", responder.URL), pades.Options{Time: now.Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	lt, _, err := pades.Extend(context.Background(), first, pades.ExtendOptions{Level: pades.LevelLT, Roots: roots})
	if err != nil {
		t.Fatal(err)
	}
	second, _, err := pades.Sign(context.Background(), lt, signer(3, "Second Signer", "http://"+witness), pades.Options{})
	if err != nil {
		t.Fatal(err)
	}
	code, page := upload(t, verifyPage(t, ca), "signed.pdf", second)
	if code != http.StatusOK || !strings.Contains(page, "good, from the revocation data the document carries") ||
		!strings.Contains(page, "intact, revocation status not established") || !strings.Contains(page, "this page never fetches any") {
		t.Errorf("the page:\n%s", page)
	}
	if n := dials.Load(); n != 0 {
		t.Errorf("the verification page connected %d times to the address the document named", n)
	}
}
