package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/keyring"
	"github.com/signet-b24/signet/keyring/softhsm"
)

func runCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return out.String() + errb.String(), code
}

// The administrator's certificate tasks work on a token alone, named by a URI that carries its module
// and PIN source, without a running server; the result is judged by openssl, pdfsig with an NSS trust
// database, and `signet verify`.
func TestAdminCertAndInternalCAOnAToken(t *testing.T) {
	testenv.RequireTool(t, "softhsm2-util")
	openssl := testenv.RequireTool(t, "openssl")
	pdfsig := testenv.RequireTool(t, "pdfsig")
	certutil := testenv.RequireTool(t, "certutil")
	// No Signet serves the CA's OCSP here, and pdfsig refuses a certificate whose responder does not
	// answer: the certificates name none (revocation: web/revocation_pdfsig_test.go).
	t.Setenv("SIGNET_CA_REVOCATION_URL", "off")
	dir := t.TempDir()
	module, pinFile, q := acmeToken(t, dir)
	tokenURI := "pkcs11:token=acme" + q

	for i := 1; i <= 12; i++ {
		out, code := runCLI(t, "admin", "cert", "self-signed", "--token", tokenURI, "--label", "emp-"+string(rune('a'+i-1)),
			"--subject", "CN=Сотрудник "+string(rune('A'+i-1))+",O=Acme,C=RU", "--key-type", "p256", "--days", "30")
		if code != 0 {
			t.Fatalf("self-signed #%d: exit %d\n%s", i, code, out)
		}
		if strings.Contains(out, "user-4711") {
			t.Fatal("the PIN was printed")
		}
	}
	out, code := runCLI(t, "admin", "cert", "list", "--token", tokenURI)
	if code != 0 || strings.Count(out, "pkcs11:token=acme;object=emp-") != 12 {
		t.Fatalf("list must show the 12 credentials, one line each (exit %d):\n%s", code, out)
	}
	if !strings.Contains(out, "EXPIRES IN") {
		t.Errorf("certificates valid 30 days must carry the expiry warning:\n%s", out)
	}
	for _, col := range []string{"TOKEN", "LABEL", "ID", "SUBJECT", "ISSUER", "SERIAL", "NOT AFTER", "KEY"} {
		if !strings.Contains(out, col) {
			t.Errorf("list lacks column %s", col)
		}
	}

	if out, code := runCLI(t, "admin", "ca", "init", "--token", tokenURI, "--label", "acme-ca", "--subject", "CN=Acme Internal CA,O=Acme"); code != 0 {
		t.Fatalf("ca init: %d\n%s", code, out)
	}
	if out, code := runCLI(t, "admin", "ca", "issue", "--ca", "pkcs11:token=acme;object=acme-ca", "--token", tokenURI,
		"--label", "ivanov", "--subject", "CN=Иванов Иван Иванович,O=Acme,C=RU"); code != 0 {
		t.Fatalf("ca issue: %d\n%s", code, out)
	}
	rootDir := filepath.Join(dir, "root")
	if out, code := runCLI(t, "admin", "ca", "export", "--ca", "pkcs11:token=acme;object=acme-ca"+q, "--out", rootDir); code != 0 {
		t.Fatalf("ca export: %d\n%s", code, out)
	}
	for _, f := range []string{"root.pem", "root.der"} {
		if _, err := os.Stat(filepath.Join(rootDir, f)); err != nil {
			t.Fatalf("ca export must write %s: %v", f, err)
		}
	}

	// The employee's certificate as stored on the token, checked by openssl against the exported root.
	k, err := keyring.Open(context.Background(), []keyring.TokenConfig{{Module: module, Label: "acme", PinFile: pinFile}}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	cred, err := k.Credential(context.Background(), "pkcs11:token=acme;object=ivanov")
	if err != nil {
		t.Fatal(err)
	}
	k.Close()
	empPEM := filepath.Join(dir, "employee.pem")
	os.WriteFile(empPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cred.Certificate.Raw}), 0o644)
	if o, err := exec.Command(openssl, "verify", "-CAfile", filepath.Join(rootDir, "root.pem"), empPEM).CombinedOutput(); err != nil {
		t.Fatalf("openssl verify: %v\n%s", err, o)
	}

	// A PDF signed with the issued credential (certificate found on the token) is trusted by pdfsig
	// once the root is in its NSS database.
	signed := filepath.Join(dir, "signed.pdf")
	if out, code := runCLI(t, "sign", "--key", "pkcs11:token=acme;object=ivanov"+q, "--in", "../../testdata/pdf/invoice.pdf",
		"--out", signed, "--visible", "--page", "last", "--position", "top-left", "--reason", "Согласовано"); code != 0 {
		t.Fatalf("sign: %d\n%s", code, out)
	}
	nss := filepath.Join(dir, "nss")
	os.MkdirAll(nss, 0o700)
	if o, err := exec.Command(certutil, "-N", "-d", "sql:"+nss, "--empty-password").CombinedOutput(); err != nil {
		t.Fatalf("certutil -N: %v\n%s", err, o)
	}
	if o, err := exec.Command(certutil, "-A", "-d", "sql:"+nss, "-n", "acme-root", "-t", "CT,C,C", "-i", filepath.Join(rootDir, "root.der")).CombinedOutput(); err != nil {
		t.Fatalf("certutil -A: %v\n%s", err, o)
	}
	o, _ := exec.Command(pdfsig, "-nssdir", "sql:"+nss, signed).CombinedOutput()
	if !strings.Contains(string(o), "Signature is Valid.") || !strings.Contains(string(o), "Certificate is Trusted.") {
		t.Fatalf("pdfsig with the root trusted:\n%s", o)
	}
	if out, code := runCLI(t, "verify", signed, "--trust", filepath.Join(rootDir, "root.pem")); code != 0 || !strings.Contains(out, "digest=valid chain=trusted") {
		t.Fatalf("signet verify --trust root.pem: exit %d\n%s", code, out)
	}
	if out, code := runCLI(t, "verify", signed); code != 1 || !strings.Contains(out, "UNTRUSTED") {
		t.Fatalf("signet verify without the root must exit 1 and say UNTRUSTED: exit %d\n%s", code, out)
	}
	if _, code := runCLI(t, "verify", "../../testdata/pdf/invoice.pdf"); code != 1 {
		t.Fatalf("an unsigned PDF does not verify: exit %d", code)
	}
}

func TestSignBatchFormPrintsTheContractLine(t *testing.T) {
	testenv.RequireTool(t, "softhsm2-util")
	pdfsig := testenv.RequireTool(t, "pdfsig")
	dir := t.TempDir()
	module, err := softhsm.Init(filepath.Join(dir, "hsm"), "batch", "so-1", "pin-1")
	if err != nil {
		t.Fatal(err)
	}
	pinFile := filepath.Join(dir, "pin")
	os.WriteFile(pinFile, []byte("pin-1"), 0o600)
	q := "?module-path=" + module + "&pin-source=file:" + pinFile
	if out, code := runCLI(t, "admin", "cert", "self-signed", "--token", "pkcs11:token=batch"+q, "--label", "acc", "--subject", "CN=Accountant,O=Acme"); code != 0 {
		t.Fatalf("self-signed: %s", out)
	}
	in, outDir := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	os.MkdirAll(in, 0o755)
	invoice, _ := os.ReadFile("../../testdata/pdf/invoice.pdf")
	for _, n := range []string{"a.pdf", "b.pdf", "c.pdf"} {
		os.WriteFile(filepath.Join(in, n), invoice, 0o644)
	}
	os.WriteFile(filepath.Join(in, "broken.pdf"), []byte("%PDF-1.4 not really"), 0o644)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"sign", "--key", "pkcs11:token=batch;object=acc" + q, "--in-dir", in, "--out-dir", outDir, "--workers", "2"}, &stdout, &stderr)
	last := strings.TrimSpace(stdout.String())
	if code != 1 || !strings.HasPrefix(last, "signed=3 failed=1 docs_per_s=") {
		t.Fatalf("want exit 1 and `signed=3 failed=1 docs_per_s=X`, got %d %q (%s)", code, last, stderr.String())
	}
	if !strings.Contains(stderr.String(), "broken.pdf") {
		t.Errorf("the failure must name the file: %s", stderr.String())
	}
	if o, _ := exec.Command(pdfsig, filepath.Join(outDir, "b.pdf")).CombinedOutput(); !strings.Contains(string(o), "Signature is Valid.") {
		t.Fatalf("pdfsig b.pdf:\n%s", o)
	}
}

// A certificate issued with the loopback default as its CRL and OCSP address is one nobody else can
// check: the command says so, and says nothing when the address is public or switched off.
func TestIssueWarnsOfALoopbackRevocationURL(t *testing.T) {
	for url, warn := range map[string]bool{
		"http://127.0.0.1:8080":     true,
		"http://localhost:8080":     true,
		"http://[::1]:8080":         true,
		"https://signet.example.ru": false,
		"off":                       false,
	} {
		var b strings.Builder
		cfg := &config.Config{}
		cfg.CA.RevocationURL = url
		warnLoopbackRevocation(&b, cfg)
		if got := strings.Contains(b.String(), "only this machine reaches"); got != warn {
			t.Errorf("%s: warned %v, want %v (%q)", url, got, warn, b.String())
		}
	}
}
