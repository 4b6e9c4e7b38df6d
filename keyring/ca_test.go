package keyring

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/internal/testsupport/testpki"
)

func TestInitCAIssueAndOpenSSLVerify(t *testing.T) {
	openssl := testenv.RequireTool(t, "openssl")
	_, cfgs := softhsmStore(t, "ca", "staff")
	k := openKeyring(t, cfgs)
	ctx := context.Background()
	root, err := k.InitCA(ctx, "ca", "acme-root", "CN=Acme Internal Root CA,O=Acme,C=RU", P384, 3650)
	if err != nil {
		t.Fatal(err)
	}
	if !root.Certificate.IsCA || root.Certificate.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Fatalf("root is not a CA: %+v", root.Certificate)
	}
	// The employee's key is on another token than the CA; Issue stores the CA certificate there.
	emp, err := k.Issue(ctx, root.URI, "staff", "mary-2026", "CN=Иванова Мария,O=Acme,C=RU", RSA2048, 365)
	if err != nil {
		t.Fatal(err)
	}
	if len(emp.Chain) != 1 || !emp.Chain[0].Equal(root.Certificate) {
		t.Fatalf("employee chain = %d certificates, want the root", len(emp.Chain))
	}
	if emp.Certificate.NotAfter.After(root.Certificate.NotAfter) {
		t.Fatal("employee certificate outlives its CA")
	}
	if _, err := emp.Certificate.Verify(x509.VerifyOptions{
		Roots: poolOf(root.Certificate), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		t.Fatalf("Go verify: %v", err)
	}
	signAndVerify(t, emp, []byte("invoice"))

	dir := t.TempDir()
	if err := ExportRoot(emp, dir); err != nil {
		t.Fatal(err)
	}
	der, err := os.ReadFile(filepath.Join(dir, "root.der"))
	if err != nil || !root.Certificate.Equal(mustParse(t, der)) {
		t.Fatalf("root.der: %v", err)
	}
	empPEM := filepath.Join(dir, "employee.pem")
	if err := os.WriteFile(empPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: emp.Certificate.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(openssl, "verify", "-CAfile", filepath.Join(dir, "root.pem"), empPEM).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": OK") {
		t.Fatalf("openssl verify: %v: %s", err, out)
	}
	// A leaf is not a CA.
	if _, err := k.Issue(ctx, emp.URI, "staff", "x", "CN=X", P256, 1); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Issue from a leaf: %v", err)
	}
	// Listing the staff token shows the employee, not the CA certificate stored there for the chain.
	list, err := k.List(ctx, "staff")
	if err != nil || len(list) != 1 || list[0].Label != "mary-2026" {
		t.Fatalf("List(staff) = %v, %v", list, err)
	}
}

func TestImportCertificate(t *testing.T) {
	_, cfgs := softhsmStore(t, "imp")
	k := openKeyring(t, cfgs)
	ctx := context.Background()
	self, err := k.GenerateSelfSigned(ctx, "imp", "renew-me", "CN=Renew Me", P256, 30)
	if err != nil {
		t.Fatal(err)
	}
	// An outside CA (software key, as a commercial CA would be) certifies the token's key.
	caKey := testpki.P256Key(t)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: mustSubject(t, "CN=Outside CA,O=Elsewhere"),
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caCert := testpki.SelfSigned(t, caTmpl, caKey)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: mustSubject(t, "CN=Renewed"),
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(12 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	leaf := testpki.Issue(t, leafTmpl, caCert, self.Key.Public(), caKey)
	if err := k.ImportCertificate(ctx, self.URI, leaf, []*x509.Certificate{caCert}); err != nil {
		t.Fatal(err)
	}
	got, err := k.Credential(ctx, self.URI)
	if err != nil {
		t.Fatal(err)
	}
	if got.Certificate.Subject.CommonName != "Renewed" || len(got.Chain) != 1 || !got.Chain[0].Equal(caCert) {
		t.Fatalf("after import: %s with chain of %d", got.Certificate.Subject, len(got.Chain))
	}
	signAndVerify(t, got, []byte("after renewal"))
	list, err := k.List(ctx, "imp")
	if err != nil || len(list) != 1 {
		t.Fatalf("List after import = %d, %v; want the one key (old certificate replaced)", len(list), err)
	}
	// A certificate for another key is refused.
	if err := k.ImportCertificate(ctx, self.URI, caCert, nil); !errors.Is(err, ErrCertificateMismatch) {
		t.Fatalf("import of a foreign certificate: %v", err)
	}
}

func TestParseSubject(t *testing.T) {
	n, err := ParseSubject(`CN=Иванов Иван,O=Acme\, Inc.,OU=Sales,C=ru,L=Москва,E=ivan@acme.example,1.2.643.3.131.1.1=7701234567`)
	if err != nil {
		t.Fatal(err)
	}
	if n.CommonName != "Иванов Иван" || n.Organization[0] != "Acme, Inc." || n.Country[0] != "RU" || n.Locality[0] != "Москва" || len(n.ExtraNames) != 2 {
		t.Fatalf("parsed %+v", n)
	}
	for _, bad := range []string{"", "O=Acme", "CN=a,XX=b", "CN=a,C=Russia", "CN=a+O=b", "CN", `CN=a\`} {
		if _, err := ParseSubject(bad); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("ParseSubject(%q) = %v, want an error", bad, err)
		}
	}
}

func poolOf(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustSubject(t *testing.T, s string) (n pkix.Name) {
	t.Helper()
	n, err := ParseSubject(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
