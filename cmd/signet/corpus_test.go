package main

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/internal/testsupport/forge"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/internal/testsupport/testpki"
	"github.com/signet-b24/signet/internal/testsupport/testtsa"
	"github.com/signet-b24/signet/pades"
)

// The forged corpus (issue 17 must 8): forgeries and legitimate updates of documents `signet sign`
// signed with a key on SoftHSM (internal/testsupport/forge/corpus.go lists them and why), each
// judged by `signet verify --json` against the verdict in the manifest, by pdfsig ("Not total
// document signed" on every updated file), by qpdf --check, and by pdftotext (a forgery shows its
// text, or it proves nothing). The corpus is written to a folder
// as `go run ./cmd/forgecorpus` writes it.
func TestForgedCorpusVerdicts(t *testing.T) {
	testenv.RequireTool(t, "softhsm2-util")
	openssl := testenv.RequireTool(t, "openssl")
	pdfsig := testenv.RequireTool(t, "pdfsig")
	qpdf := testenv.RequireTool(t, "qpdf")
	pdftotext := testenv.RequireTool(t, "pdftotext")
	t.Setenv("SIGNET_CONFIG", "")
	t.Setenv("SIGNET_CA_REVOCATION_URL", "off") // no responder here; pdfsig would wait for one
	dir := t.TempDir()
	t.Setenv("SIGNET_DATA_DIR", dir)
	_, _, q := acmeToken(t, dir)
	rootDir := filepath.Join(dir, "root")
	for _, args := range [][]string{
		{"admin", "ca", "init", "--token", "pkcs11:token=acme" + q, "--label", "acme-ca", "--subject", "CN=Acme CA", "--export", rootDir},
		{"admin", "ca", "issue", "--ca", "pkcs11:token=acme;object=acme-ca", "--token", "pkcs11:token=acme" + q, "--label", "mary", "--subject", "CN=Mary"},
	} {
		if out, code := runCLI(t, args...); code != 0 {
			t.Fatalf("%v: exit %d\n%s", args[:3], code, out)
		}
	}
	n := 0
	sign := func(pdf []byte) ([]byte, error) {
		n++
		in, out := filepath.Join(dir, "in.pdf"), filepath.Join(dir, "out.pdf")
		if err := os.WriteFile(in, pdf, 0o600); err != nil {
			return nil, err
		}
		if o, code := runCLI(t, "sign", "--key", "pkcs11:token=acme;object=mary"+q, "--in", in, "--out", out); code != 0 {
			t.Fatalf("signet sign: exit %d\n%s", code, o)
		}
		return os.ReadFile(out)
	}
	// Another signer's tool for the layouts Signet does not make: openssl cms with a software key.
	otherKey := testpki.P256Key(t)
	otherRoot := testpki.SelfSigned(t, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Other Tool CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}, otherKey)
	otherDER, _ := x509.MarshalPKCS8PrivateKey(otherKey)
	writePEMFile(t, filepath.Join(dir, "other.pem"), "CERTIFICATE", otherRoot.Raw)
	writePEMFile(t, filepath.Join(dir, "other.key"), "PRIVATE KEY", otherDER)
	tsa := testtsa.Start(t, "Corpus TSA", time.Time{})
	signetRoot, err := os.ReadFile(filepath.Join(rootDir, "root.der"))
	if err != nil {
		t.Fatal(err)
	}
	tools := forge.Tools{Sign: sign, CMS: forge.OpenSSLCMS(openssl, filepath.Join(dir, "other.pem"), filepath.Join(dir, "other.key")),
		Stamp: func(d []byte) ([]byte, error) {
			return pades.HTTPTimestamper{URL: tsa.URL}.Timestamp(t.Context(), d, crypto.SHA256)
		}, Cert: signetRoot}
	invoice, err := os.ReadFile("../../testdata/pdf/invoice.pdf")
	if err != nil {
		t.Fatal(err)
	}
	cases, files := forge.Build(t, invoice, tools)
	out := filepath.Join(dir, "corpus")
	if err := forge.Write(out, cases, files); err != nil {
		t.Fatal(err)
	}
	trust := filepath.Join(dir, "trust.pem")
	var anchors bytes.Buffer
	for _, der := range [][]byte{signetRoot, otherRoot.Raw, tsa.CA.Raw} {
		pem.Encode(&anchors, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	os.WriteFile(trust, anchors.Bytes(), 0o644)

	forged, legit := 0, 0
	for _, c := range cases {
		path := filepath.Join(out, c.File)
		code, stdout, stderr := signet("verify", "--trust", trust, "--json", path)
		var rep verifyReport
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Errorf("%s: signet verify --json is not JSON (exit %d): %v\n%s%s", c.Name, code, err, stdout, stderr)
			continue
		}
		wantCode := 0
		if c.Verdict != "valid" {
			wantCode = 1
		}
		if string(rep.Verdict) != c.Verdict || code != wantCode || len(rep.Signatures) != c.Signatures {
			t.Errorf("%s (%s): verdict %s exit %d, %d signatures; the manifest says %s, %d signatures\n%s", c.Name, c.Why, rep.Verdict, code, len(rep.Signatures), c.Verdict, c.Signatures, stdout)
			continue
		}
		first := rep.Signatures[0]
		if first.Modified != c.Modified || !strings.Contains(first.Reason, c.Reason) {
			t.Errorf("%s: first signature modified=%v reason %q; want modified=%v and %q", c.Name, first.Modified, first.Reason, c.Modified, c.Reason)
		}
		ps, _ := exec.Command(pdfsig, path).CombinedOutput()
		if strings.Contains(string(ps), "Not total document signed") != c.NotTotal {
			t.Errorf("%s: pdfsig \"Not total document signed\" = %v, want %v:\n%s", c.Name, !c.NotTotal, c.NotTotal, ps)
		}
		if c.Shows != "" {
			if text, _ := exec.Command(pdftotext, path, "-").CombinedOutput(); !strings.Contains(string(text), c.Shows) {
				t.Errorf("%s: pdftotext does not show %q, so the forgery proves nothing:\n%s", c.Name, c.Shows, text)
			}
		}
		if o, err := exec.Command(qpdf, "--check", path).CombinedOutput(); err != nil {
			t.Errorf("%s: qpdf --check: %v\n%s", c.Name, err, o)
		}
		if c.Kind == "forged" {
			forged++
		} else {
			legit++
		}
	}
	if forged < 8 || legit < 6 {
		t.Errorf("the corpus has %d forged and %d legitimate files; want every kind the issue lists", forged, legit)
	}
	if _, err := os.Stat(filepath.Join(out, "manifest.json")); err != nil {
		t.Error(err)
	}
}

func writePEMFile(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
