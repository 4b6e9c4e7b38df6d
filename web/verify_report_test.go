package web

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/signet-b24/signet/pades"
)

var reportLink = regexp.MustCompile(`href="data:application/json;base64,([A-Za-z0-9+/=]+)" download="([^"]*)"`)

// pageReport is the validation report a verification page offers, and the name it is downloaded as.
func pageReport(t *testing.T, page string) (*pades.Report, []byte, string) {
	t.Helper()
	m := reportLink.FindAllStringSubmatch(page, -1)
	if len(m) != 1 {
		t.Fatalf("%d report links on the page, want 1:\n%s", len(m), page)
	}
	raw, err := base64.StdEncoding.DecodeString(m[0][1])
	if err != nil {
		t.Fatal(err)
	}
	var rep pades.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("the report is not JSON: %v\n%s", err, raw)
	}
	return &rep, raw, m[0][2]
}

// The page offers the validation report of the upload it answers, and of that upload only: the same
// JSON `signet verify --report FILE` writes (pades.NewReport over the same file and trust store),
// carried in the page as a data: URL, so the server keeps neither the file nor the report once the
// answer is written. A second upload gets its own report; a file without a signature gets none.
func TestVerifyPageOffersTheReportOfThisUpload(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where the page spools uploads (os.CreateTemp)
	cert, invoice, signed := signedInvoice(t, "Report Signer")
	srv := verifyPage(t, cert)

	_, page := upload(t, srv, "contract 7.pdf", signed)
	rep, raw, name := pageReport(t, page)
	sum := sha256.Sum256(signed)
	if name != "contract 7.pdf.validation-report.json" || rep.Document.Name != "contract 7.pdf" || rep.Document.Size != int64(len(signed)) ||
		rep.Document.SHA256 != fmt.Sprintf("%x", sum) || rep.Verdict != pades.VerdictValid || len(rep.Signatures) != 1 ||
		rep.Signatures[0].Indication != pades.IndicationPassed {
		t.Fatalf("the report of the signed upload (%s):\n%s", name, raw)
	}
	// What `signet verify --report` writes for the same file and trust store, but for the time.
	f := filepath.Join(t.TempDir(), "contract.pdf")
	if err := os.WriteFile(f, signed, 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	infos, err := pades.Verify(f, pool)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.MarshalIndent(pades.NewReport("contract 7.pdf", int64(len(signed)), sum[:], infos, rep.ValidationTime), "", "  ")
	if string(want) != string(raw) {
		t.Errorf("the page's report differs from pades.NewReport's:\n%s\nwant\n%s", raw, want)
	}

	// Another upload, a forged one: its own report, nothing of the first.
	forged := shadowForgery(t, invoice, signed)
	_, page = upload(t, srv, "forged.pdf", forged)
	rep, raw, _ = pageReport(t, page)
	if rep.Document.Name != "forged.pdf" || rep.Document.SHA256 != fmt.Sprintf("%x", sha256.Sum256(forged)) ||
		rep.Signatures[0].Indication != pades.IndicationFailed || strings.Contains(string(raw), "contract 7.pdf") {
		t.Errorf("the report of the forged upload:\n%s", raw)
	}
	if _, page = upload(t, srv, "unsigned.pdf", invoice); !strings.Contains(page, "no digital signature") || reportLink.MatchString(page) {
		t.Errorf("an unsigned PDF: a report is offered, or the page does not say why not:\n%s", page)
	}
	// Nothing of the uploads stays on the server.
	if left, _ := filepath.Glob(filepath.Join(tmp, "signet-verify-*")); len(left) != 0 {
		t.Errorf("uploads left on disk: %v", left)
	}
}
