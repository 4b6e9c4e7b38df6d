package web

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"html"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/internal/testsupport/forge"
	"github.com/signet-b24/signet/internal/testsupport/i18ntext"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/internal/testsupport/testpki"
	"github.com/signet-b24/signet/pades"
)

// Issue 18, must 3: /verify words a PDF's problems and the changes made after signing in the reader's
// language. Every forgery of the forged corpus (internal/testsupport/forge), uploaded by a browser
// that asks for Russian, is judged "not valid" with Russian problem text and none of the English
// catalogue's pades sentences; in English the page says what `signet verify` says (the case's
// reason). The validation report keeps the English and gives the problems' codes and the Russian words.
func TestVerifyPageWordsTheForgedCorpusInTheReadersLanguage(t *testing.T) {
	openssl := testenv.RequireTool(t, "openssl")
	invoice, err := os.ReadFile("../testdata/pdf/invoice.pdf")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	self := func(cn string) (*ecdsa.PrivateKey, *x509.Certificate) {
		key := testpki.P256Key(t)
		return key, testpki.SelfSigned(t, &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}, key)
	}
	key, cert := self("Corpus Signer")
	other, otherCert := self("Other Tool")
	otherDER, err := x509.MarshalPKCS8PrivateKey(other)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "other.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: otherCert.Raw}), 0o600)
	os.WriteFile(filepath.Join(dir, "other.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: otherDER}), 0o600)
	tools := forge.Tools{
		Sign: func(pdf []byte) ([]byte, error) {
			out, _, err := pades.Sign(context.Background(), pdf, pades.Signer{Key: key, Certificate: cert}, pades.Options{})
			return out, err
		},
		CMS:  forge.OpenSSLCMS(openssl, filepath.Join(dir, "other.pem"), filepath.Join(dir, "other.key")),
		Cert: cert.Raw,
	}
	cases, files := forge.Build(t, invoice, tools)
	// Two uploads of each case from one address: more than the page lets one client start a minute.
	p := New(Config{MaxPDFBytes: 1 << 20, TrustAnchors: []*x509.Certificate{cert, otherCert}, Verify: VerifyLimits{RatePerMinute: 6000, Burst: 100}})
	mux := http.NewServeMux()
	p.Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	p.origin = srv.URL
	ru := i18n.New("ru")
	frags := i18ntext.Sentences(i18n.Fallback, "pades.", 2)
	if len(frags) < 50 {
		t.Fatalf("only %d English pades sentences: the catalogue was not read", len(frags))
	}
	forged := 0
	for _, c := range cases {
		if c.Kind != "forged" {
			continue
		}
		forged++
		_, en := upload(t, srv, c.File, files[c.File])
		if !strings.Contains(html.UnescapeString(en), c.Reason) || !strings.Contains(en, "Not valid") {
			t.Errorf("%s in English: the page does not say %q:\n%s", c.Name, c.Reason, en)
		}
		_, page := uploadIn(t, srv, "ru-RU,ru;q=0.9", c.File, files[c.File])
		text := html.UnescapeString(page)
		if !strings.Contains(text, "Недействительна") || !strings.Contains(text, ru.T("web.verify.problems")) {
			t.Errorf("%s in Russian: not judged, or no problems shown:\n%s", c.Name, page)
		}
		for _, f := range frags {
			if strings.Contains(text, f) {
				t.Errorf("%s in Russian: English %q on the page", c.Name, f)
			}
		}
		if rep, _, _ := pageReport(t, text); rep.Language != "ru" || len(rep.Signatures) == 0 || len(rep.Signatures[0].ProblemCodes) != len(rep.Signatures[0].Problems) ||
			len(rep.Signatures[0].ProblemTexts) != len(rep.Signatures[0].Problems) || rep.Signatures[0].Verdict != pades.VerdictInvalid {
			t.Errorf("%s: the Russian page's report: %+v", c.Name, *rep)
		}
	}
	if forged < 5 {
		t.Fatalf("only %d forged cases in the corpus", forged)
	}
	// The gap forgery in Russian, word for word.
	if _, page := uploadIn(t, srv, "ru", "gap.pdf", files[fileOf(cases, "gap-content")]); !strings.Contains(html.UnescapeString(page), ru.T("pades.problem.gapExtra")) &&
		!strings.Contains(html.UnescapeString(page), ru.T("pades.problem.gapNotHex")) {
		t.Errorf("the gap forgery in Russian:\n%s", page)
	}
}

func fileOf(cases []forge.Case, name string) string {
	for _, c := range cases {
		if c.Name == name {
			return c.File
		}
	}
	return ""
}
