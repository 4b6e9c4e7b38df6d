package main

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/routes"
	"github.com/signet-b24/signet/internal/testsupport/revlist"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/keyring"
	"github.com/signet-b24/signet/keyring/softhsm"
	"github.com/signet-b24/signet/pades"
	"github.com/signet-b24/signet/web"
)

// B-LT with Signet's own CA (issue 17 must 4): its OCSP responder (keyring.Responder behind web.Revocation, as `signet
// serve` mounts it) answers for a certificate it issued; the extended document validates with the
// responder gone; once the certificate is revoked, `signet verify --online` calls a signature
// without timestamp revoked.
func TestExtendWithSignetsOwnCA(t *testing.T) {
	testenv.RequireTool(t, "softhsm2-util")
	ctx := context.Background()
	dir := t.TempDir()
	mod, err := softhsm.Init(filepath.Join(dir, "hsm"), "ca", "so-1", "pin-1")
	if err != nil {
		t.Fatal(err)
	}
	pinFile := filepath.Join(dir, "pin")
	if err := os.WriteFile(pinFile, []byte("pin-1"), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := keyring.Open(ctx, []keyring.TokenConfig{{Name: "ca", Module: mod, Label: "ca", PinFile: pinFile, MaxSessions: 4}}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	revs := &revlist.List{}
	mux := routes.New()
	(&web.Revocation{Responder: keyring.NewResponder(k, revs, nil)}).Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	k.SetRevocationURL(srv.URL + "/")
	root, err := k.InitCA(ctx, "ca", "root", "CN=Acme Internal Root CA,O=Acme", keyring.P256, 3650)
	if err != nil {
		t.Fatal(err)
	}
	mary, err := k.Issue(ctx, root.URI, "ca", "mary", "CN=Mary,O=Acme", keyring.P256, 365)
	if err != nil {
		t.Fatal(err)
	}
	invoice, err := os.ReadFile("../../testdata/pdf/invoice.pdf")
	if err != nil {
		t.Fatal(err)
	}
	signed, _, err := pades.Sign(ctx, invoice, pades.Signer{Key: mary.Key, Certificate: mary.Certificate, Chain: mary.Chain}, pades.Options{Time: time.Now().Add(-2 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root.Certificate)
	lt, res, err := pades.Extend(ctx, signed, pades.ExtendOptions{Level: pades.LevelLT, Roots: roots})
	if err != nil {
		t.Fatal(err)
	}
	if res.OCSPs+res.CRLs == 0 || len(res.Sources) == 0 || !strings.Contains(res.Sources[0], srv.URL) {
		t.Errorf("no revocation data from Signet's responder: %d OCSPs, %d CRLs, %v", res.OCSPs, res.CRLs, res.Sources)
	}
	caPEM, ltPath, bbPath := filepath.Join(dir, "root.pem"), filepath.Join(dir, "lt.pdf"), filepath.Join(dir, "bb.pdf")
	for p, b := range map[string][]byte{caPEM: pemCert(root.Certificate), ltPath: lt, bbPath: signed} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	revs.Add(contracts.Revocation{Serial: contracts.NormalSerial(mary.Certificate.SerialNumber.Text(16)),
		Issuer: hex.EncodeToString(mary.Certificate.AuthorityKeyId), Reason: 1, RevokedAt: time.Now().Add(-time.Minute).UTC()})
	if out, code := runCLI(t, "verify", "--trust", caPEM, "--online", bbPath); code != 1 || !strings.Contains(out, "revocation: revoked") || !strings.Contains(out, "was revoked on") {
		t.Errorf("verify --online after the revocation: exit %d\n%s", code, out)
	}
	srv.Close()
	if out, code := runCLI(t, "verify", "--trust", caPEM, ltPath); code != 0 || !strings.Contains(out, "revocation: good (DSS)") {
		t.Errorf("the B-LT document, responder gone: exit %d\n%s", code, out)
	}
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}
