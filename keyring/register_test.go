package keyring

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

// issuedRegister stands in for the register of issued certificates in NATS KV
// (producer/identity/issued.go is its store; cmd/signet/admin_ca_revoke_test.go reads it there).
type issuedRegister struct {
	mu sync.Mutex
	m  map[string]contracts.IssuedCertificate
}

func (r *issuedRegister) RecordIssued(_ context.Context, c contracts.IssuedCertificate) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]contracts.IssuedCertificate{}
	}
	r.m[contracts.IssuedKey(c.Issuer, c.Serial)] = c
	return nil
}

func (r *issuedRegister) Issued(_ context.Context, issuer, serial string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.m[contracts.IssuedKey(issuer, serial)]
	return ok, nil
}

// noRevocations is an empty list of revoked certificates.
type noRevocations struct{}

func (noRevocations) Revocations(context.Context) ([]contracts.Revocation, error) { return nil, nil }

// The OCSP responder answers "unknown" (RFC 6960 §2.2) for a serial its CA never issued, judged by
// openssl: a made-up serial, and a certificate signed with the CA's key behind Signet's back (not on
// a token, not in the register). Issue records what it issues; a certificate recorded in the
// register is "good" although it is on no token; one on a token but not in the register (issued
// before the register existed) is "good" too. A new CA's key usage includes digitalSignature, the
// usage of the OCSP answers it signs itself.
func TestOCSPUnknownForSerialsNeverIssued(t *testing.T) {
	openssl := testenv.RequireTool(t, "openssl")
	ctx := context.Background()
	_, cfgs := softhsmStore(t, "ca")
	k := openKeyring(t, cfgs)
	reg := &issuedRegister{}
	k.SetIssuedRegister(reg)
	resp := NewResponder(k, noRevocations{}, nil).WithRegister(reg)
	root, err := k.InitCA(ctx, "ca", "root", "CN=Acme Internal Root CA,O=Acme", P256, 3650)
	if err != nil {
		t.Fatal(err)
	}
	if root.Certificate.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		t.Errorf("the new CA's key usage %b lacks digitalSignature", root.Certificate.KeyUsage)
	}
	mary, err := k.Issue(ctx, root.URI, "ca", "mary", "CN=Mary,O=Acme", P256, 365)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := reg.Issued(ctx, hex.EncodeToString(root.Certificate.SubjectKeyId), contracts.NormalSerial(mary.Certificate.SerialNumber.Text(16))); !ok {
		t.Fatalf("Issue did not record mary's certificate in the register: %+v", reg.m)
	}
	// Issued before the register: on the token, not in the register.
	k.SetIssuedRegister(nil)
	old, err := k.Issue(ctx, root.URI, "ca", "old", "CN=Old,O=Acme", P256, 365)
	if err != nil {
		t.Fatal(err)
	}
	// Signed with the CA's key by hand: on no token.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(0x5eca1), Subject: pkix.Name{CommonName: "Shadow"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature},
		root.Certificate, &key.PublicKey, root.Key)
	if err != nil {
		t.Fatal(err)
	}
	shadow, _ := x509.ParseCertificate(der)
	made := &x509.Certificate{SerialNumber: big.NewInt(0x7a11ed), RawIssuer: root.Certificate.RawSubject}

	dir := t.TempDir()
	pemFile := func(name string, c *x509.Certificate) string {
		p := filepath.Join(dir, name+".pem")
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rootPEM := pemFile("root", root.Certificate)
	// status asks the responder about c as a verifier would, and has openssl judge the answer
	// (its signature by the CA, and the status for c's serial).
	status := func(c *x509.Certificate) string {
		t.Helper()
		reqDER, err := ocsp.CreateRequest(c, root.Certificate, &ocsp.RequestOptions{Hash: crypto.SHA1}) // openssl -serial matches by a SHA-1 CertID
		if err != nil {
			t.Fatal(err)
		}
		req, _ := ocsp.ParseRequest(reqDER)
		e, err := resp.ca(ctx, func(e *caEntry) bool { return string(e.keyHash[req.HashAlgorithm]) == string(req.IssuerKeyHash) })
		if e == nil {
			t.Fatalf("the responder does not know its CA: %v", err)
		}
		answer, err := resp.ocspAnswer(ctx, e, req)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, "answer.der")
		os.WriteFile(f, answer, 0o644)
		out, err := exec.Command(openssl, "ocsp", "-respin", f, "-issuer", rootPEM, "-CAfile", rootPEM, "-serial", "0x"+c.SerialNumber.Text(16)).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Response verify OK") {
			t.Fatalf("openssl ocsp -respin: %v\n%s", err, out)
		}
		return string(out)
	}
	for _, c := range []struct {
		what string
		cert *x509.Certificate
		want string
	}{
		{"mary (issued, registered)", mary.Certificate, ": good"},
		{"old (on the token, not registered)", old.Certificate, ": good"},
		{"shadow (signed with the CA key, nowhere)", shadow, ": unknown"},
		{"a made-up serial", made, ": unknown"},
	} {
		if out := status(c.cert); !strings.Contains(out, c.want) {
			t.Errorf("%s: want %q\n%s", c.what, c.want, out)
		}
	}
	// Recorded (`signet admin ca issue` on another machine): good from then on, not cached as unknown.
	reg.RecordIssued(ctx, IssuedEntry(shadow.SerialNumber.Text(16), root.Certificate.SubjectKeyId, "CN=Shadow", shadow.NotAfter))
	if out := status(shadow); !strings.Contains(out, ": good") {
		t.Errorf("shadow once registered:\n%s", out)
	}
}
