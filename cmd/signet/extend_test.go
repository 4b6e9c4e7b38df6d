package main

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/internal/testsupport/testpki"
	"github.com/signet-b24/signet/keyring/softhsm"
	"github.com/signet-b24/signet/pades"
)

// ltvSetup is a CA whose OCSP responder (x/crypto/ocsp on loopback) answers good for everything,
// and invoice.pdf signed B-B by a certificate naming that responder.
type ltvSetup struct {
	dir, signed, caPEM string
	calls              *atomic.Int32
	close              func()
}

func newLTVSetup(t *testing.T) *ltvSetup {
	t.Helper()
	caKey, key := testpki.P256Key(t), testpki.P256Key(t)
	now := time.Now()
	ca := testpki.SelfSigned(t, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Extend Test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}, caKey)
	calls := &atomic.Int32{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		req, err := ocsp.ParseRequest(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp, err := ocsp.CreateResponse(ca, ca, ocsp.Response{Status: ocsp.Good, SerialNumber: req.SerialNumber,
			ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour)}, caKey)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/ocsp-response")
		w.Write(resp)
	}))
	leaf := testpki.Issue(t, &x509.Certificate{SerialNumber: big.NewInt(77), Subject: pkix.Name{CommonName: "Mary Extend"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		OCSPServer: []string{srv.URL}}, ca, key.Public(), caKey)
	pdf, err := os.ReadFile(filepath.Join("..", "..", "testdata", "pdf", "invoice.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	// Signed a minute ago: the responder's thisUpdate is after it.
	signed, _, err := pades.Sign(context.Background(), pdf, pades.Signer{Key: key, Certificate: leaf, Chain: []*x509.Certificate{ca}},
		pades.Options{Time: now.Add(-2 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	s := &ltvSetup{dir: t.TempDir(), calls: calls, close: srv.Close}
	t.Cleanup(srv.Close)
	s.signed, s.caPEM = filepath.Join(s.dir, "signed.pdf"), filepath.Join(s.dir, "ca.pem")
	if err := os.WriteFile(s.signed, signed, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.caPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// `signet extend --level lt` writes IN-lt.pdf beside the input, whose revocation data `signet
// verify` then finds in the document with the responder gone; `signet verify --online` asks the
// responder for a document without it; plain `signet verify` does not.
func TestExtendCommand(t *testing.T) {
	s := newLTVSetup(t)
	out, code := runCLI(t, "extend", "--level", "lt", "--trust", s.caPEM, s.signed)
	lt := filepath.Join(s.dir, "signed-lt.pdf")
	if code != 0 || !strings.Contains(out, "extended "+s.signed+" → "+lt) || !strings.Contains(out, "1 OCSP responses") {
		t.Fatalf("extend: exit %d\n%s", code, out)
	}
	out, code = runCLI(t, "extend", "--level", "lt", "--trust", s.caPEM, "--json", s.signed, "-o", filepath.Join(s.dir, "again.pdf"))
	var rep extendReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || rep.OCSPs != 1 || rep.Level != pades.LevelLT || len(rep.SHA256) != 64 {
		t.Errorf("extend --json: exit %d, %v\n%s", code, err, out)
	}
	before := s.calls.Load()
	out, code = runCLI(t, "verify", "--trust", s.caPEM, s.signed)
	if code != 0 || strings.Contains(out, "revocation:") || s.calls.Load() != before {
		t.Errorf("plain verify of a document without DSS: exit %d, %d responder calls\n%s", code, s.calls.Load()-before, out)
	}
	out, code = runCLI(t, "verify", "--trust", s.caPEM, "--online", s.signed)
	if code != 0 || !strings.Contains(out, "revocation: good (OCSP http://127.0.0.1") || s.calls.Load() == before {
		t.Errorf("verify --online: exit %d\n%s", code, out)
	}
	s.close()
	out, code = runCLI(t, "verify", "--trust", s.caPEM, lt)
	if code != 0 || !strings.Contains(out, "revocation: good (DSS)") || !strings.Contains(out, "validation data (DSS) added (allowed)") {
		t.Errorf("verify of the B-LT document, responder gone: exit %d\n%s", code, out)
	}
	out, code = runCLI(t, "verify", "--trust", s.caPEM, "--online", "--json", s.signed)
	var vr verifyReport
	if err := json.Unmarshal([]byte(out), &vr); err != nil || code != 1 || vr.Verdict != pades.VerdictIndeterminate || vr.Signatures[0].Revocation != "unavailable" {
		t.Errorf("verify --online, responder gone: exit %d, %v\n%s", code, err, out)
	}
	out, code = runCLI(t, "verify", "--trust", s.caPEM, "--online", s.signed)
	if code != 1 || !strings.Contains(out, "verdict=indeterminate") || !strings.Contains(out, "revocation: unavailable") ||
		!strings.Contains(out, "verdict: "+pades.VerdictIndeterminate.Headline().String()) {
		t.Errorf("verify --online as text, responder gone: exit %d\n%s", code, out)
	}
}

// Usage mistakes exit 2 before anything is read or fetched.
func TestExtendUsage(t *testing.T) {
	for _, args := range [][]string{
		{"extend", "in.pdf"},
		{"extend", "--level", "t", "in.pdf"},
		{"extend", "--level", "lta", "in.pdf"},
		{"extend", "--level", "lt", "--tsa", "ftp://tsa.example/", "in.pdf"},
		{"extend", "--level", "lt", "in.pdf", "-o", "in.pdf"},
		{"extend", "--level", "lt"},
		{"sign", "--key", "pkcs11:token=none;object=none", "--in", "a.pdf", "--out", "b.pdf", "--level", "lta"},
		{"sign", "--key", "pkcs11:token=none;object=none", "--in", "a.pdf", "--out", "b.pdf", "--level", "x"},
	} {
		if out, code := runCLI(t, args...); code != 2 {
			t.Errorf("signet %s: exit %d, want 2\n%s", strings.Join(args, " "), code, out)
		}
	}
}

// `signet sign --level lt` signs with a key on a token and extends before writing: the output has
// a DSS after the signature, and pdfsig still calls the signature valid.
func TestSignLevelLT(t *testing.T) {
	testenv.RequireTool(t, "softhsm2-util")
	pdfsig := testenv.RequireTool(t, "pdfsig")
	dir := t.TempDir()
	module, err := softhsm.Init(filepath.Join(dir, "hsm"), "lt", "so-1", "pin-1")
	if err != nil {
		t.Fatal(err)
	}
	pinFile := filepath.Join(dir, "pin")
	if err := os.WriteFile(pinFile, []byte("pin-1"), 0o600); err != nil {
		t.Fatal(err)
	}
	q := "?module-path=" + module + "&pin-source=file:" + pinFile
	if out, code := runCLI(t, "admin", "cert", "self-signed", "--token", "pkcs11:token=lt"+q, "--label", "acc", "--subject", "CN=Accountant,O=Acme"); code != 0 {
		t.Fatalf("self-signed: %s", out)
	}
	out := filepath.Join(dir, "signed.pdf")
	if o, code := runCLI(t, "sign", "--key", "pkcs11:token=lt;object=acc"+q, "--level", "lt", "--in", "../../testdata/pdf/invoice.pdf", "--out", out); code != 0 {
		t.Fatalf("sign --level lt: exit %d\n%s", code, o)
	}
	doc, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(doc), "/Type /DSS") {
		t.Fatalf("no DSS in the output (%v)", err)
	}
	if o, _ := exec.Command(pdfsig, out).CombinedOutput(); !strings.Contains(string(o), "Signature is Valid.") {
		t.Errorf("pdfsig:\n%s", o)
	}
	o, _ := runCLI(t, "verify", "--json", out)
	var vr verifyReport
	if err := json.Unmarshal([]byte(o), &vr); err != nil || len(vr.Signatures) != 1 || !vr.Signatures[0].DigestValid || vr.Signatures[0].Modified ||
		len(vr.Signatures[0].Changes) == 0 || !strings.Contains(vr.Signatures[0].Changes[0].What, "DSS") {
		t.Errorf("verify: %v\n%s", err, o)
	}
}
