package web

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/internal/testsupport/testpki"
	"github.com/signet-b24/signet/keyring"
	"github.com/signet-b24/signet/keyring/softhsm"
)

// The admin API does what `signet admin cert` and `signet admin ca` do, behind the administrator check.
func TestAdminCredentialAPI(t *testing.T) {
	k := testKeyring(t, "acme")
	mux := http.NewServeMux()
	(&CredentialsAPI{Keys: k}).Routes(mux, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer admin" {
				http.Error(w, "no", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	call := func(method, path string, body any, admin bool) (int, []byte) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, srv.URL+path, rd)
		if admin {
			req.Header.Set("Authorization", "Bearer admin")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if st, _ := call("POST", "/v1/admin/credentials/self-signed", CertRequest{Token: "acme", Label: "x", Subject: "CN=X"}, false); st != http.StatusUnauthorized {
		t.Fatalf("without the administrator token: %d", st)
	}
	st, b := call("POST", "/v1/admin/credentials/self-signed", CertRequest{Token: "acme", Label: "mary-2026", Subject: "CN=Мария,O=Acme", KeyType: "p256", Days: 10}, true)
	var v keyring.CredentialView
	if st != http.StatusCreated || json.Unmarshal(b, &v) != nil || v.Status != "expiring" || v.KeyType != "ECDSA P-256" || !strings.Contains(v.URI, "object=mary-2026") {
		t.Fatalf("self-signed: %d %s", st, b)
	}
	if st, b := call("POST", "/v1/admin/credentials/self-signed", CertRequest{Token: "acme", Label: "mary-2026", Subject: "CN=Again"}, true); st != http.StatusConflict {
		t.Fatalf("same label again must conflict: %d %s", st, b)
	}
	if st, b := call("POST", "/v1/admin/ca/init", CertRequest{Token: "acme", Label: "ca", Subject: "CN=Acme CA", KeyType: "p384", Days: 3650}, true); st != http.StatusCreated {
		t.Fatalf("ca init: %d %s", st, b)
	}
	if st, b := call("POST", "/v1/admin/ca/issue", CertRequest{CA: "pkcs11:token=acme;object=ca", Token: "acme", Label: "ivan", Subject: "CN=Иван"}, true); st != http.StatusCreated || !strings.Contains(string(b), "CN=Acme CA") {
		t.Fatalf("ca issue: %d %s", st, b)
	}
	st, b = call("GET", "/v1/admin/ca/root?ca=pkcs11:token%3Dacme%3Bobject%3Dca", nil, true)
	if blk, _ := pem.Decode(b); st != http.StatusOK || blk == nil || blk.Type != "CERTIFICATE" {
		t.Fatalf("root: %d %s", st, b)
	}
	st, b = call("GET", "/v1/admin/credentials", nil, true)
	var list []keyring.CredentialView
	if st != http.StatusOK || json.Unmarshal(b, &list) != nil || len(list) != 3 {
		t.Fatalf("list: %d %s", st, b)
	}
	if st, _ := call("POST", "/v1/admin/credentials/import", CertRequest{Key: "pkcs11:token=acme;object=ivan", CertPEM: "junk"}, true); st != http.StatusBadRequest {
		t.Fatalf("import of junk must be refused: %d", st)
	}

	// Left out, key type and validity are the signer's defaults; the token may be named by its URI,
	// whose module-path and pin-source the server ignores (pin.go, rule 2: the file is never read).
	st, b = call("POST", "/v1/admin/credentials/self-signed", CertRequest{Token: "pkcs11:token=acme?module-path=/nonexistent.so&pin-source=file:/nonexistent.pin", Label: "seal", Subject: "CN=Acme Seal,O=Acme"}, true)
	if st != http.StatusCreated || json.Unmarshal(b, &v) != nil || v.KeyType != keyring.ProfileFor(keyring.ForSigner).KeyType.Description() ||
		v.NotAfter.Sub(v.NotBefore) != 365*24*time.Hour {
		t.Fatalf("self-signed at the defaults: %d %s", st, b)
	}
	// A PIN in a URI gets the one answer (pin.go, rule 1), wherever the URI is.
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/admin/credentials/self-signed", CertRequest{Token: "pkcs11:token=acme?pin-value=4711", Label: "y", Subject: "CN=Y"}},
		{"POST", "/v1/admin/ca/issue", CertRequest{CA: "pkcs11:token=acme;object=ca?pin-value=4711", Token: "acme", Label: "y", Subject: "CN=Y"}},
		{"POST", "/v1/admin/credentials/import", CertRequest{Key: "pkcs11:token=acme;object=ivan?pin-value=4711", CertPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rawCert(t, k, list[0])}))}},
		{"GET", "/v1/admin/ca/root?ca=pkcs11:token%3Dacme%3Bobject%3Dca%3Fpin-value%3D4711", nil},
	} {
		st, b := call(c.method, c.path, c.body, true)
		if st != http.StatusBadRequest || !strings.Contains(string(b), "pin-source=file:/path/to/pin") || strings.Contains(string(b), "4711") {
			t.Errorf("%s %s with a pin-value: %d %s", c.method, c.path, st, b)
		}
	}
	for _, req := range []CertRequest{
		{Token: "acme", Label: "z", Subject: "CN=Z", KeyType: "ed25519"},
		{Token: "acme", Label: "z", Subject: "CN=Z", Days: -3},
	} {
		if st, b := call("POST", "/v1/admin/credentials/self-signed", req, true); st != http.StatusBadRequest || !strings.Contains(string(b), "default") {
			t.Errorf("self-signed %+v: %d %s, want 400 naming the default", req, st, b)
		}
	}
	// The root of a credential whose chain does not end on the token is a 404 that says what to do,
	// not a crash: the seal's certificate, issued by an outside CA, imported without its chain.
	seal, err := k.Credential(context.Background(), "pkcs11:token=acme;object=seal")
	if err != nil {
		t.Fatal(err)
	}
	caKey := testpki.P256Key(t)
	caCert := testpki.SelfSigned(t, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: subject(t, "CN=Outside CA"),
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, caKey)
	leaf := testpki.Issue(t, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: subject(t, "CN=Acme Seal"),
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}, caCert, seal.Key.Public(), caKey)
	if err := k.ImportCertificate(context.Background(), seal.URI, leaf, nil); err != nil {
		t.Fatal(err)
	}
	if st, b := call("GET", "/v1/admin/ca/root?ca=pkcs11:token%3Dacme%3Bobject%3Dseal", nil, true); st != http.StatusNotFound || !strings.Contains(string(b), "import the root") {
		t.Fatalf("root of a credential without its chain: %d %s", st, b)
	}
}

// rawCert reads the certificate of a listed credential back from the keyring.
func rawCert(t *testing.T, k *keyring.Keyring, v keyring.CredentialView) []byte {
	t.Helper()
	c, err := k.Credential(context.Background(), v.URI)
	if err != nil {
		t.Fatal(err)
	}
	return c.Certificate.Raw
}

func subject(t *testing.T, s string) pkix.Name {
	t.Helper()
	n, err := keyring.ParseSubject(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// testKeyring opens SoftHSM tokens with these labels in a store of the test's own (PIN in a file),
// closed when the test ends.
func testKeyring(t *testing.T, labels ...string) *keyring.Keyring {
	t.Helper()
	testenv.RequireTool(t, "softhsm2-util")
	dir := t.TempDir()
	var module string
	for _, l := range labels {
		var err error
		module, err = softhsm.Init(dir, l, "so-pin-1234", "user-pin-1234")
		if errors.Is(err, softhsm.ErrNotInstalled) && !testenv.Strict() {
			t.Skip(err)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	pinFile := filepath.Join(dir, "user.pin")
	if err := os.WriteFile(pinFile, []byte("user-pin-1234\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var cfgs []keyring.TokenConfig
	for _, l := range labels {
		cfgs = append(cfgs, keyring.TokenConfig{Name: l, Module: module, Label: l, PinFile: pinFile, MaxSessions: 16})
	}
	k, err := keyring.Open(context.Background(), cfgs, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}
