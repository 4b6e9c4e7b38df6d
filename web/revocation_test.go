package web

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/routes"
	"github.com/signet-b24/signet/internal/testsupport/revlist"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/keyring"
)

// caService is a CA (key type kt) and its certificate for Mary on a SoftHSM token, with the CRL,
// the OCSP responder and the revocation API on a loopback server whose URL the certificates name.
func caService(t *testing.T, kt keyring.KeyType) (*keyring.Keyring, *revlist.List, *httptest.Server, *keyring.Credential, *keyring.Credential) {
	t.Helper()
	k := testKeyring(t, "ca")
	src := &revlist.List{}
	mux := routes.New()
	(&Revocation{Responder: keyring.NewResponder(k, src, nil)}).Routes(mux)
	(&RevokeAPI{Keys: k, Revoker: src}).Routes(mux, func(h http.Handler) http.Handler { return h })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	k.SetRevocationURL(srv.URL + "/")
	ctx := context.Background()
	root, err := k.InitCA(ctx, "ca", "root", "CN=Acme Internal Root CA,O=Acme", kt, 3650)
	if err != nil {
		t.Fatal(err)
	}
	mary, err := k.Issue(ctx, root.URI, "ca", "mary", "CN=Mary,O=Acme", keyring.P256, 365)
	if err != nil {
		t.Fatal(err)
	}
	return k, src, srv, root, mary
}

func writeCertPEM(t *testing.T, path string, c *x509.Certificate) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The CA's certificates name its CRL and OCSP responder; openssl, an independent judge, reads the
// CRL and asks the responder (POST), before and after a revocation through the admin API.
func TestCRLAndOCSPJudgedByOpenSSL(t *testing.T) {
	openssl := testenv.RequireTool(t, "openssl")
	k, _, srv, root, mary := caService(t, keyring.P384)
	ctx := context.Background()
	bob, err := k.Issue(ctx, root.URI, "ca", "bob", "CN=Bob,O=Acme", keyring.RSA2048, 365)
	if err != nil {
		t.Fatal(err)
	}
	if len(root.Certificate.OCSPServer) != 0 || len(root.Certificate.CRLDistributionPoints) != 0 {
		t.Errorf("the self-signed root names revocation URLs: %v %v", root.Certificate.OCSPServer, root.Certificate.CRLDistributionPoints)
	}
	crlURL := mary.Certificate.CRLDistributionPoints
	if len(crlURL) != 1 || crlURL[0] != keyring.CRLURL(srv.URL, root.Certificate) || len(mary.Certificate.OCSPServer) != 1 || mary.Certificate.OCSPServer[0] != srv.URL+"/ca/ocsp" {
		t.Fatalf("issued certificate: CDP %v, OCSP %v", crlURL, mary.Certificate.OCSPServer)
	}
	dir := t.TempDir()
	rootPEM, maryPEM, bobPEM := filepath.Join(dir, "root.pem"), filepath.Join(dir, "mary.pem"), filepath.Join(dir, "bob.pem")
	writeCertPEM(t, rootPEM, root.Certificate)
	writeCertPEM(t, maryPEM, mary.Certificate)
	writeCertPEM(t, bobPEM, bob.Certificate)

	ocspStatus := func(cert string) string {
		t.Helper()
		out, err := exec.Command(openssl, "ocsp", "-issuer", rootPEM, "-cert", cert, "-url", srv.URL+"/ca/ocsp", "-CAfile", rootPEM, "-no_nonce").CombinedOutput()
		if err != nil {
			t.Fatalf("openssl ocsp: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "Response verify OK") {
			t.Fatalf("openssl ocsp did not verify the response:\n%s", out)
		}
		return string(out)
	}
	crlText := func() string {
		t.Helper()
		resp, err := http.Get(crlURL[0])
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pkix-crl" {
			t.Fatalf("CRL: HTTP %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		f := filepath.Join(dir, "ca.crl")
		b := new(strings.Builder)
		body, _ := readAllLimited(resp)
		if err := os.WriteFile(f, body, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(openssl, "crl", "-inform", "DER", "-in", f, "-CAfile", rootPEM, "-noout", "-text").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "verify OK") {
			t.Fatalf("openssl crl: %v\n%s", err, out)
		}
		b.Write(out)
		return b.String()
	}
	maryHex := strings.ToUpper(mary.Certificate.SerialNumber.Text(16))
	if len(maryHex)%2 == 1 {
		maryHex = "0" + maryHex // openssl prints whole octets
	}

	if out := ocspStatus(maryPEM); !strings.Contains(out, maryPEM+": good") {
		t.Fatalf("before the revocation:\n%s", out)
	}
	if out := crlText(); strings.Contains(out, maryHex) || !strings.Contains(out, "No Revoked Certificates") {
		t.Fatalf("CRL before the revocation:\n%s", out)
	}

	resp, err := http.Post(srv.URL+"/v1/admin/ca/revoke", "application/json", strings.NewReader(`{"credential":"`+mary.URI+`","reason":"keyCompromise"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("revoke: %v %v", err, resp.Status)
	}
	resp.Body.Close()

	if out := ocspStatus(maryPEM); !strings.Contains(out, maryPEM+": revoked") || !strings.Contains(out, "Reason: keyCompromise") || strings.Contains(out, "Revocation Time: Jan  1 00:00:00 1") {
		t.Fatalf("after the revocation:\n%s", out)
	}
	if out := ocspStatus(bobPEM); !strings.Contains(out, bobPEM+": good") {
		t.Fatalf("bob after mary's revocation:\n%s", out)
	}
	if out := crlText(); !strings.Contains(out, "Serial Number: "+maryHex) || !strings.Contains(out, "Key Compromise") {
		t.Fatalf("CRL after the revocation:\n%s", out)
	}
}

// An OCSP GET (RFC 6960 §A.1: base64 of the DER request in the path) answers as a POST does; junk
// is a malformedRequest answer, an unknown CRL id 404. (A flood of requests for new serials is
// keyring's TestOCSPFloodAnsweredTryLater: the responder, not its HTTP form, limits it.)
func TestOCSPGetAndBadRequests(t *testing.T) {
	_, src, srv, root, mary := caService(t, keyring.P256)
	src.Set(contracts.Revocation{Serial: contracts.NormalSerial(mary.Certificate.SerialNumber.Text(16)), Reason: 4})
	req, err := ocspRequest(mary.Certificate, root.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	got := ocspGet(t, srv.URL+"/ca/ocsp/"+req, root.Certificate)
	if got.Status != 1 /* ocsp.Revoked */ || got.RevocationReason != 4 {
		t.Fatalf("GET: status %d reason %d", got.Status, got.RevocationReason)
	}
	for path, want := range map[string]string{"/ca/ocsp/bm90IGFuIE9DU1AgcmVxdWVzdA==": "malformed", "/ca/crl/deadbeef": "404"} {
		r, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := readAllLimited(r)
		r.Body.Close()
		switch want {
		case "404":
			if r.StatusCode != 404 {
				t.Errorf("%s: HTTP %d, want 404", path, r.StatusCode)
			}
		default:
			if r.StatusCode != 200 || string(body) != string(malformedAnswer()) {
				t.Errorf("%s: HTTP %d %x, want an OCSP malformedRequest", path, r.StatusCode, body)
			}
		}
	}
}
