package web

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/internal/testsupport/pdfgen"
	"github.com/signet-b24/signet/internal/testsupport/testpki"
	"github.com/signet-b24/signet/pades"
)

// verifyPage serves the verification page with the given trust anchors.
func verifyPage(t *testing.T, anchors ...*x509.Certificate) *httptest.Server {
	t.Helper()
	p := New(Config{MaxPDFBytes: 1 << 20, TrustAnchors: anchors})
	mux := http.NewServeMux()
	p.Routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p.origin = srv.URL
	return srv
}

// signedInvoice is testdata's invoice signed with a fresh self-signed certificate named cn, as the
// control panel makes them; it returns the certificate, the invoice and the signed document.
func signedInvoice(t *testing.T, cn string) (*x509.Certificate, []byte, []byte) {
	t.Helper()
	key := testpki.P256Key(t)
	now := time.Now()
	cert := testpki.SelfSigned(t, &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}, key)
	invoice, err := os.ReadFile("../testdata/pdf/invoice.pdf")
	if err != nil {
		t.Fatal(err)
	}
	signed, _, err := pades.Sign(context.Background(), invoice, pades.Signer{Key: key, Certificate: cert}, pades.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return cert, invoice, signed
}

// shadowForgery replaces the first page's content of signed in an incremental update (a shadow
// attack: the signature still covers its revision, the page shows other text).
func shadowForgery(t *testing.T, invoice, signed []byte) []byte {
	t.Helper()
	content, err := pdfgen.PageContent(invoice)
	if err != nil {
		t.Fatal(err)
	}
	const text = "BT /R7 24 Tf 72 600 Td (PAY 1000000 RUB) Tj ET"
	forged, err := pdfgen.AppendUpdate(signed, map[int]string{content: fmt.Sprintf("<</Length %d>>\nstream\n%s\nendstream", len(text), text)}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return forged
}

// A document signed with a self-signed certificate, such as one made in Signet's control panel, is
// "intact but signer not trusted" unless that certificate is a configured trust anchor, as
// `signet verify --trust` and pdfsig have it. A shadow attack on it (the page's content stream
// replaced by an update) is "modified after signing", whatever the trust.
func TestVerifyPageTrustAndModification(t *testing.T) {
	cert, invoice, signed := signedInvoice(t, "Internal Signer")
	untrusted := verifyPage(t)
	if _, page := upload(t, untrusted, "signed.pdf", signed); !strings.Contains(page, "Intact but signer not trusted") || strings.Contains(page, "Valid:") {
		t.Errorf("no trust anchor configured:\n%s", page)
	}
	// In Russian for a reader who asks for it (issue 18), with the words `signet verify` prints.
	if _, page := uploadIn(t, untrusted, "ru-RU,ru;q=0.9", "signed.pdf", signed); !strings.Contains(page, "Данные не изменены, но подписант не доверенный") ||
		strings.Contains(page, "Intact but") || !strings.Contains(page, `<html lang="ru">`) {
		t.Errorf("no trust anchor configured, in Russian:\n%s", page)
	}
	trusted := verifyPage(t, cert)
	_, page := upload(t, trusted, "signed.pdf", signed)
	if !strings.Contains(page, "Valid: intact, unchanged since signing, signer trusted") {
		t.Errorf("the certificate is a trust anchor:\n%s", page)
	}
	// The validation report is offered for download, in the page itself.
	m := regexp.MustCompile(`href="data:application/json;base64,([A-Za-z0-9+/=]+)" download="signed.pdf.validation-report.json"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no report link:\n%s", page)
	}
	raw, _ := base64.StdEncoding.DecodeString(m[1])
	var rep pades.Report
	if err := json.Unmarshal(raw, &rep); err != nil || rep.Signatures[0].Indication != pades.IndicationPassed || rep.Document.Name != "signed.pdf" {
		t.Errorf("report: %v\n%s", err, raw)
	}
	forged := shadowForgery(t, invoice, signed)
	_, page = upload(t, trusted, "forged.pdf", forged)
	if !strings.Contains(page, "Not valid") || !strings.Contains(page, "modified after signing: page 1 content replaced") ||
		strings.Contains(page, "Valid:") {
		t.Errorf("a shadow attack:\n%s", page)
	}
	if _, page = uploadIn(t, trusted, "ru", "forged.pdf", forged); !strings.Contains(page, "Недействительна") || !strings.Contains(page, "изменён после подписания") {
		t.Errorf("a shadow attack, in Russian:\n%s", page)
	}
}
