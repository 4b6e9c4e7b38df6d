package keyring

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The admin API does what `signet admin cert` and `signet admin ca` do, behind the administrator check.
func TestAdminCredentialAPI(t *testing.T) {
	_, cfgs := softhsmStore(t, "acme")
	k := openKeyring(t, cfgs)
	mux := http.NewServeMux()
	k.Routes(mux, func(next http.Handler) http.Handler {
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
	var v CredentialView
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
	var list []CredentialView
	if st != http.StatusOK || json.Unmarshal(b, &list) != nil || len(list) != 3 {
		t.Fatalf("list: %d %s", st, b)
	}
	if st, _ := call("POST", "/v1/admin/credentials/import", CertRequest{Key: "pkcs11:token=acme;object=ivan", CertPEM: "junk"}, true); st != http.StatusBadRequest {
		t.Fatalf("import of junk must be refused: %d", st)
	}
}
