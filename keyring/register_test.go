package keyring

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

// The OCSP responder answers "unknown" (RFC 6960 §2.2) for a serial its CA never issued, judged by
// openssl: a made-up serial, and a certificate signed with the CA's key behind Signet's back (not on
// a token, not in the register). Issue records what it issues; a certificate recorded in the
// register is "good" although it is on no token; one on a token but not in the register (issued
// before the register existed) is "good" too. A new CA's key usage includes digitalSignature, the
// usage of the OCSP answers it signs itself.
func TestOCSPUnknownForSerialsNeverIssued(t *testing.T) {
	openssl := testenv.RequireTool(t, "openssl")
	k, _, reg, srv, root, mary := caServiceWithRegister(t, P256)
	ctx := context.Background()
	if root.Certificate.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		t.Errorf("the new CA's key usage %b lacks digitalSignature", root.Certificate.KeyUsage)
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
	pub, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(0x5eca1), Subject: pkix.Name{CommonName: "Shadow"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root.Certificate, &pub.PublicKey, root.Key)
	if err != nil {
		t.Fatal(err)
	}
	shadow, _ := x509.ParseCertificate(der)

	dir := t.TempDir()
	rootPEM := filepath.Join(dir, "root.pem")
	writeCertPEM(t, rootPEM, root.Certificate)
	status := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(openssl, append([]string{"ocsp", "-issuer", rootPEM, "-url", srv.URL + "/ca/ocsp", "-CAfile", rootPEM, "-no_nonce"}, args...)...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Response verify OK") {
			t.Fatalf("openssl ocsp %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	cert := func(name string, c *x509.Certificate) string {
		p := filepath.Join(dir, name+".pem")
		writeCertPEM(t, p, c)
		return p
	}
	maryPEM, oldPEM, shadowPEM := cert("mary", mary.Certificate), cert("old", old.Certificate), cert("shadow", shadow)
	for _, c := range []struct{ what, file, want string }{
		{"mary (issued, registered)", maryPEM, ": good"},
		{"old (on the token, not registered)", oldPEM, ": good"},
		{"shadow (signed with the CA key, nowhere)", shadowPEM, ": unknown"},
	} {
		if out := status("-cert", c.file); !strings.Contains(out, c.file+c.want) {
			t.Errorf("%s: want %q\n%s", c.what, c.want, out)
		}
	}
	if out := status("-serial", "0x7a11ed"); !strings.Contains(out, ": unknown") {
		t.Errorf("a made-up serial:\n%s", out)
	}
	// Recorded (e.g. `signet admin ca issue` on another machine): good from then on, not cached as unknown.
	reg.RecordIssued(ctx, IssuedEntry(shadow.SerialNumber.Text(16), root.Certificate.SubjectKeyId, "CN=Shadow", shadow.NotAfter))
	if out := status("-cert", shadowPEM); !strings.Contains(out, shadowPEM+": good") {
		t.Errorf("shadow once registered:\n%s", out)
	}
}
