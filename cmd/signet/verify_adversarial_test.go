package main

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/internal/testsupport/pdfgen"
	"github.com/signet-b24/signet/internal/testsupport/testpki"
	"github.com/signet-b24/signet/pades"
	"github.com/signet-b24/signet/worker/evidence"
)

// selfProvingSigned makes a self-proving invoice (evidence facts in the document information)
// signed by a leaf of a throw-away CA; it returns the file and the CA's PEM file.
func selfProvingSigned(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	caKey, leafKey := testpki.P256Key(t), testpki.P256Key(t)
	ca := testpki.SelfSigned(t, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Verify Test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}, caKey)
	leaf := testpki.Issue(t, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Mary Smith"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}, ca, leafKey.Public(), caKey)
	caPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	prepared := filepath.Join(dir, "prepared.pdf")
	if err := evidence.Prepare(context.Background(), "../../testdata/pdf/invoice.pdf", prepared, evidence.Facts{
		DocumentID: "doc-17", FileName: "invoice.pdf", Signer: "Mary Smith (mary)", Certificate: "CN=Mary Smith",
		CertSerial: "2", Time: now.UTC().Truncate(time.Second), PublicURL: "https://signet.example"}); err != nil {
		t.Fatal(err)
	}
	signed := filepath.Join(dir, "signed.pdf")
	if _, err := pades.SignFile(context.Background(), prepared, signed, pades.Signer{Key: leafKey, Certificate: leaf, Chain: []*x509.Certificate{ca}}, pades.Options{}); err != nil {
		t.Fatal(err)
	}
	return signed, caPEM
}

// appendInfo appends an incremental update that gives the document a new information dictionary.
func appendInfo(t *testing.T, path, info string) {
	t.Helper()
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	nr, err := pdfgen.NextObject(doc)
	if err != nil {
		t.Fatal(err)
	}
	if doc, err = pdfgen.AppendUpdate(doc, map[int]string{nr: info}, nr); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Evidence forgery: an Info update appended after the signature changes the signer the evidence
// names. `signet verify` must fail, say the facts changed after signing, and show the signed ones.
func TestAttackEvidenceForgedThroughVerify(t *testing.T) {
	signed, caPEM := selfProvingSigned(t)
	out, code := runCLI(t, "verify", signed, "--trust", caPEM)
	if code != 0 || !strings.Contains(out, `evidence: document doc-17`) || !strings.Contains(out, "verdict: Valid") {
		t.Fatalf("the genuine document: exit %d\n%s", code, out)
	}
	f, err := evidence.Read(signed)
	if err != nil {
		t.Fatal(err)
	}
	appendInfo(t, signed, fmt.Sprintf("<</SignetDocumentID (%s)/SignetOriginalSHA256 (%s)/SignetSigner (Eve Forger \\(eve\\))/SignetCertificate (%s)/SignetCertificateSerial (%s)/SignetTime (%s)/SignetVerifyURL (%s)>>",
		f.DocumentID, f.OriginalSHA256, f.Certificate, f.CertSerial, f.Time.Format(time.RFC3339), f.VerifyURL()))
	if forged, _ := evidence.Read(signed); forged == nil || forged.Signer != "Eve Forger (eve)" {
		t.Fatalf("the forgery did not take: %+v", forged)
	}
	out, code = runCLI(t, "verify", signed, "--trust", caPEM)
	if code != 1 || !strings.Contains(out, "evidence /SignetSigner changed after signing (NOT ALLOWED)") ||
		!strings.Contains(out, "evidence problem: the evidence facts were changed after signing") ||
		!strings.Contains(out, `signer "Mary Smith (mary)"`) || strings.Contains(out, "Eve Forger") {
		t.Fatalf("the forged document: exit %d\n%s", code, out)
	}
	reportFile := filepath.Join(t.TempDir(), "report.json")
	out, code = runCLI(t, "verify", signed, "--trust", caPEM, "--json", "--report", reportFile)
	var report pades.Report
	if b, err := os.ReadFile(reportFile); err != nil || json.Unmarshal(b, &report) != nil || len(report.Signatures) != 1 ||
		report.Signatures[0].Indication != pades.IndicationFailed || !strings.HasSuffix(report.Signatures[0].SubIndication, "FORMAT_FAILURE") {
		t.Errorf("--report: %v\n%s", err, b)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &rep); err != nil || code != 1 {
		t.Fatalf("--json must print one JSON document (exit 1): %v, exit %d\n%s", err, code, out)
	}
	ev, _ := rep["evidence"].(map[string]any)
	if rep["verdict"] != "invalid" || rep["valid"] != false || ev == nil || ev["signed"] != false || ev["signer"] != "Mary Smith (mary)" {
		t.Errorf("--json of the forged document:\n%s", out)
	}
}

// --json is one valid JSON document with the evidence inside it, snake_case, and no zero
// timestamps; without a trust anchor the same document is intact but its signer not trusted.
func TestVerifyJSON(t *testing.T) {
	signed, caPEM := selfProvingSigned(t)
	out, code := runCLI(t, "verify", signed, "--trust", caPEM, "--json")
	var rep verifyReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 {
		t.Fatalf("exit %d, %v\n%s", code, err, out)
	}
	if rep.Verdict != pades.VerdictValid || len(rep.Signatures) != 1 || rep.Evidence == nil || !rep.Evidence.Signed ||
		rep.Evidence.DocumentID != "doc-17" || strings.Contains(out, "0001-01-01") || strings.Contains(out, `"timestamp"`) ||
		!strings.Contains(out, `"byte_range_valid": true`) {
		t.Errorf("--json:\n%s", out)
	}
	out, code = runCLI(t, "verify", signed, "--json")
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 || rep.Verdict != pades.VerdictUntrusted ||
		rep.Signatures[0].Reason != "intact but signer not trusted" {
		t.Errorf("without --trust: exit %d %v\n%s", code, err, out)
	}
}

// An unsigned or unreadable file still gets one JSON document from --json, with the reason.
func TestVerifyJSONWithoutSignature(t *testing.T) {
	var out, errb strings.Builder
	code := run(context.Background(), []string{"verify", "--json", "../../testdata/pdf/invoice.pdf"}, &out, &errb)
	var rep verifyReport
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil || code != 1 || rep.Valid || !strings.Contains(rep.Error, "no signature") {
		t.Errorf("exit %d, %v\n%s%s", code, err, out.String(), errb.String())
	}
}
