package pades

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/internal/testsupport/testpki"
)

var (
	keyOnce        sync.Once
	testRSAKey     *rsa.PrivateKey
	testECKey      *ecdsa.PrivateKey
	testCAKey      *ecdsa.PrivateKey
	testCACert     *x509.Certificate
	testRSACert    *x509.Certificate
	testECCert     *x509.Certificate
	testCyrCert    *x509.Certificate
	testSelfSigned *x509.Certificate
)

// mustCert makes the certificate tmpl for pub, issued by parent and signed with priv.
func mustCert(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, priv crypto.Signer) *x509.Certificate {
	t.Helper()
	return testpki.Issue(t, tmpl, parent, pub, priv)
}

// testKeys makes, once per test binary, a CA and RSA/ECDSA signers issued by it, plus a
// self-signed RSA certificate.
func testKeys(t testing.TB) {
	keyOnce.Do(func() {
		testRSAKey = testpki.RSAKey(t, 2048)
		testECKey = testpki.P256Key(t)
		testCAKey = testpki.P256Key(t)
		now := time.Now()
		ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Signet Test CA", Organization: []string{"Signet"}},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
		testCACert = testpki.SelfSigned(t, ca, testCAKey)
		leaf := func(serial int64, cn string, pub crypto.PublicKey) *x509.Certificate {
			return mustCert(t, &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn, Organization: []string{"ACME Trading"}},
				NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
				KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
				ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}}, testCACert, pub, testCAKey)
		}
		testRSACert = leaf(1001, "Mary Smith", testRSAKey.Public())
		testECCert = leaf(1002, "John Doe", testECKey.Public())
		testCyrCert = leaf(1003, "Иванов Иван Иванович", testRSAKey.Public())
		self := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "Self Signed"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
		testSelfSigned = testpki.SelfSigned(t, self, testRSAKey)
	})
}

func rsaSigner(t testing.TB) Signer {
	testKeys(t)
	return Signer{Key: testRSAKey, Certificate: testRSACert, Chain: []*x509.Certificate{testCACert}}
}

func ecSigner(t testing.TB) Signer {
	testKeys(t)
	return Signer{Key: testECKey, Certificate: testECCert, Chain: []*x509.Certificate{testCACert}}
}

func corpus(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "pdf", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writePEM(t testing.TB, path string, certs ...*x509.Certificate) {
	t.Helper()
	var b bytes.Buffer
	for _, c := range certs {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func run(t testing.TB, name string, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

// checkSigned judges a signed PDF with tools we did not write: qpdf --check, pdfsig (expecting
// wantSigs valid signatures, the last one covering the whole file) and openssl cms -verify on the
// CMS and the bytes of the ByteRange.
func checkSigned(t *testing.T, in, out []byte, res *Result, wantSigs int) {
	t.Helper()
	testenv.RequireTool(t, "qpdf")
	testenv.RequireTool(t, "pdfsig")
	testenv.RequireTool(t, "openssl")
	if !bytes.HasPrefix(out, in) {
		t.Fatal("the input is not a prefix of the output")
	}
	dir := t.TempDir()
	pdf := filepath.Join(dir, "signed.pdf")
	if err := os.WriteFile(pdf, out, 0o600); err != nil {
		t.Fatal(err)
	}
	if o, err := run(t, "qpdf", "--check", pdf); err != nil {
		t.Fatalf("qpdf --check: %v\n%s", err, o)
	}
	o, _ := run(t, "pdfsig", pdf)
	if n := strings.Count(o, "Signature is Valid."); n != wantSigs {
		t.Fatalf("pdfsig: %d valid signatures, want %d:\n%s", n, wantSigs, o)
	}
	if !strings.Contains(o, "Total document signed") {
		t.Fatalf("pdfsig: last signature does not cover the whole document:\n%s", o)
	}
	br := res.ByteRange
	if br[0] != 0 || br[2]+br[3] != int64(len(out)) {
		t.Fatalf("ByteRange %v does not cover the %d-byte file", br, len(out))
	}
	ranges := append(append([]byte(nil), out[:br[1]]...), out[br[2]:br[2]+br[3]]...)
	writeFile(t, filepath.Join(dir, "ranges.bin"), ranges)
	writeFile(t, filepath.Join(dir, "sig.der"), res.CMS)
	writePEM(t, filepath.Join(dir, "ca.pem"), testCACert, testSelfSigned)
	if o, err := run(t, "openssl", "cms", "-verify", "-inform", "DER", "-in", filepath.Join(dir, "sig.der"),
		"-content", filepath.Join(dir, "ranges.bin"), "-binary", "-CAfile", filepath.Join(dir, "ca.pem"),
		"-purpose", "any", "-out", os.DevNull); err != nil {
		t.Fatalf("openssl cms -verify: %v\n%s", err, o)
	}
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
