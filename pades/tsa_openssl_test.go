package pades

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

// opensslTSA is `openssl ts -reply` behind a tiny HTTP handler (openssl ts has no server of its
// own): a real, independent RFC 3161 authority on loopback for the tests.
type opensslTSA struct {
	openssl, dir string
	mu           sync.Mutex // openssl ts keeps its serial in a file, unlocked
}

// newOpenSSLTSA writes the TSA's certificate (issued by the test CA, with the critical
// timeStamping extended key usage openssl insists on), its key and configuration into a temporary
// directory.
func newOpenSSLTSA(t *testing.T) *opensslTSA {
	t.Helper()
	key, cert := tsaCertificate(t, 5002, "OpenSSL Test TSA")
	return newOpenSSLTSAWith(t, key, cert, testCACert)
}

// newOpenSSLTSAWith is newOpenSSLTSA with the TSA's key and certificate, issued by ca.
func newOpenSSLTSAWith(t *testing.T, key crypto.Signer, cert, ca *x509.Certificate) *opensslTSA {
	t.Helper()
	a := &opensslTSA{openssl: testenv.RequireTool(t, "openssl"), dir: t.TempDir()}
	writePEM(t, filepath.Join(a.dir, "tsa.pem"), cert)
	writePEM(t, filepath.Join(a.dir, "ca.pem"), ca)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(a.dir, "tsa.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	writeFile(t, filepath.Join(a.dir, "tsa.cnf"), []byte(fmt.Sprintf(`[ tsa ]
default_tsa = tsa1
[ tsa1 ]
serial = %[1]s/serial
crypto_device = builtin
signer_cert = %[1]s/tsa.pem
certs = %[1]s/ca.pem
signer_key = %[1]s/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
`, a.dir)))
	return a
}

func (a *opensslTSA) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	q, r2 := filepath.Join(a.dir, "q.tsq"), filepath.Join(a.dir, "r.tsr")
	body, _ := io.ReadAll(r.Body)
	if err := os.WriteFile(q, body, 0o600); err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	if out, err := runQuiet(a.openssl, "ts", "-reply", "-config", filepath.Join(a.dir, "tsa.cnf"), "-queryfile", q, "-out", r2); err != nil {
		http.Error(w, string(out), 500)
		return
	}
	resp, err := os.ReadFile(r2)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	w.Header().Set("Content-Type", "application/timestamp-reply")
	w.Write(resp)
}

// B-T against openssl's TSA: the signature timestamp is verified by Verify and by
// `openssl ts -verify`; a document timestamp from the same TSA is verified too.
func TestTimestampsFromOpenSSLTSA(t *testing.T) {
	tsa := newOpenSSLTSA(t)
	srv := httptest.NewServer(tsa)
	defer srv.Close()
	rec := &recordingTSA{HTTPTimestamper: HTTPTimestamper{URL: srv.URL}}
	doc, _, err := Sign(context.Background(), corpus(t, "invoice.pdf"), rsaSigner(t), Options{TSA: rec})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(tsa.dir, "token.der"), rec.token)
	if o, err := run(t, tsa.openssl, "ts", "-verify", "-token_in", "-in", filepath.Join(tsa.dir, "token.der"),
		"-digest", hex.EncodeToString(rec.digest), "-CAfile", filepath.Join(tsa.dir, "ca.pem")); err != nil {
		t.Fatalf("openssl ts -verify: %v\n%s", err, o)
	}
	stamped := signUpdateWith(t, addSignatureField(t, doc, "Timestamp1", docTimestampBody(), "", nil), 0, docTimestamper(t, srv.URL))
	_, infos := verifyDoc(t, stamped)
	wantValid(t, infos, 2)
	if infos[0].TimestampTime.IsZero() || infos[1].Signer != "OpenSSL Test TSA" || infos[1].TimestampTime.IsZero() {
		t.Errorf("timestamps: %+v", infos)
	}
}

// runQuiet runs a command outside a test's goroutine (an HTTP handler may not call t.Fatal).
func runQuiet(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).CombinedOutput()
}
