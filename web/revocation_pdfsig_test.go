package web

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/keyring"
	"github.com/signet-b24/signet/pades"
)

// pdfsig (poppler with NSS), trusting the CA, follows the OCSP URL in the signer's certificate to
// Signet's responder: the certificate is trusted while good and reported revoked once the
// administrator revokes it (issue 17 must 3).
func TestPdfsigSeesTheRevocationThroughOCSP(t *testing.T) {
	pdfsig := testenv.RequireTool(t, "pdfsig")
	certutil := testenv.RequireTool(t, "certutil")
	_, _, srv, root, mary := caService(t, keyring.P384)
	in, err := os.ReadFile(filepath.Join("..", "testdata", "pdf", "invoice.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := pades.Sign(context.Background(), in, pades.Signer{Key: mary.Key, Certificate: mary.Certificate, Chain: mary.Chain}, pades.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pdf, rootPEM, nss := filepath.Join(dir, "signed.pdf"), filepath.Join(dir, "root.pem"), filepath.Join(dir, "nss")
	if err := os.WriteFile(pdf, out, 0o644); err != nil {
		t.Fatal(err)
	}
	writeCertPEM(t, rootPEM, root.Certificate)
	if err := os.Mkdir(nss, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-N", "-d", "sql:" + nss, "--empty-password"}, {"-A", "-d", "sql:" + nss, "-n", "signet-root", "-t", "CT,C,C", "-i", rootPEM}} {
		if o, err := exec.Command(certutil, args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil %v: %v\n%s", args, err, o)
		}
	}
	check := func() string {
		o, _ := exec.Command(pdfsig, "-nssdir", "sql:"+nss, pdf).CombinedOutput()
		return string(o)
	}
	if o := check(); !strings.Contains(o, "Signature is Valid.") || !strings.Contains(o, "Certificate is Trusted.") {
		t.Fatalf("pdfsig before the revocation:\n%s", o)
	}
	resp, err := http.Post(srv.URL+"/v1/admin/ca/revoke", "application/json", strings.NewReader(`{"credential":"`+mary.URI+`","reason":"keyCompromise"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("revoke: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	if o := check(); !strings.Contains(o, "Certificate has been Revoked.") {
		t.Fatalf("pdfsig after the revocation:\n%s", o)
	}
}
