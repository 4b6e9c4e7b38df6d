// Package testtsa is a real RFC 3161 timestamp authority on loopback for tests: `openssl ts -reply`
// behind a tiny HTTP handler (openssl ts has no server of its own), with its own CA and a TSA
// certificate whose lifetime the test chooses (the archive job renews timestamps whose TSA
// certificate nears expiry). It is independent of Signet's code, so what it stamps judges Signet.
package testtsa

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/internal/testsupport/testpki"
)

// TSA is a running authority.
type TSA struct {
	URL    string            // POST application/timestamp-query here
	CA     *x509.Certificate // the root that issued the TSA certificate
	Cert   *x509.Certificate // the TSA certificate
	CAFile string            // the root as PEM, for `openssl ts -verify -CAfile`

	openssl, dir string
	mu           sync.Mutex // openssl ts keeps its serial in a file, unlocked
}

// Start runs an authority whose certificate is valid until notAfter (zero: a day from now); the
// test is skipped when openssl is missing.
func Start(t testing.TB, name string, notAfter time.Time) *TSA {
	t.Helper()
	if notAfter.IsZero() {
		notAfter = time.Now().Add(24 * time.Hour)
	}
	caKey := testpki.P256Key(t)
	ca := testpki.SelfSigned(t, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " Root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter.Add(365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}, caKey)
	key := testpki.P256Key(t)
	// RFC 3161 §2.3: exactly one extended key usage, id-kp-timeStamping, critical (openssl insists).
	eku, _ := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	cert := testpki.Issue(t, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}}},
		ca, key.Public(), caKey)
	return Serve(t, key, cert, ca)
}

// Serve runs an authority with a key and certificate the test made, issued by ca: for a TSA
// certificate that must name the test's own OCSP responder or CRL (B-LT checks the TSA's chain too).
// The certificate needs the critical id-kp-timeStamping extended key usage (RFC 3161 §2.3).
func Serve(t testing.TB, key crypto.Signer, cert, ca *x509.Certificate) *TSA {
	t.Helper()
	a := &TSA{CA: ca, Cert: cert, openssl: testenv.RequireTool(t, "openssl"), dir: t.TempDir()}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	a.CAFile = filepath.Join(a.dir, "ca.pem")
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(a.dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.CA.Raw}))
	write("tsa.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.Cert.Raw}))
	write("tsa.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	write("tsa.cnf", a.config("sha256, sha384, sha512"))
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	return a
}

// AcceptOnly makes the authority accept message imprints of these digests only (openssl's
// `digests`, e.g. "sha512"): a query with another is answered PKIStatus rejection, badAlg.
func (a *TSA) AcceptOnly(t testing.TB, digests string) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := os.WriteFile(filepath.Join(a.dir, "tsa.cnf"), a.config(digests), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (a *TSA) config(digests string) []byte {
	return []byte(fmt.Sprintf(`[ tsa ]
default_tsa = tsa1
[ tsa1 ]
serial = %[1]s/serial
crypto_device = builtin
signer_cert = %[1]s/tsa.pem
certs = %[1]s/ca.pem
signer_key = %[1]s/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = %[2]s
accuracy = secs:1
ordering = yes
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
`, a.dir, digests))
}

// ServeHTTP answers one timestamp query.
func (a *TSA) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	q, resp := filepath.Join(a.dir, "q.tsq"), filepath.Join(a.dir, "r.tsr")
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err := os.WriteFile(q, body, 0o600); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if out, err := exec.Command(a.openssl, "ts", "-reply", "-config", filepath.Join(a.dir, "tsa.cnf"), "-queryfile", q, "-out", resp).CombinedOutput(); err != nil {
		http.Error(w, string(out), http.StatusInternalServerError)
		return
	}
	b, err := os.ReadFile(resp)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/timestamp-reply")
	w.Write(b)
}
