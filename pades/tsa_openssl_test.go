package pades

import (
	"context"
	"encoding/hex"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/internal/testsupport/testtsa"
)

// newOpenSSLTSA is `openssl ts -reply` on loopback (testtsa), a real, independent RFC 3161
// authority, with a TSA certificate issued by the test CA.
func newOpenSSLTSA(t *testing.T) *testtsa.TSA {
	t.Helper()
	key, cert := tsaCertificate(t, 5002, "OpenSSL Test TSA")
	return testtsa.Serve(t, key, cert, testCACert)
}

// B-T against openssl's TSA: the signature timestamp is verified by Verify and by
// `openssl ts -verify`; a document timestamp from the same TSA is verified too.
func TestTimestampsFromOpenSSLTSA(t *testing.T) {
	tsa := newOpenSSLTSA(t)
	rec := &recordingTSA{HTTPTimestamper: HTTPTimestamper{URL: tsa.URL}}
	doc, _, err := Sign(context.Background(), corpus(t, "invoice.pdf"), rsaSigner(t), Options{TSA: rec})
	if err != nil {
		t.Fatal(err)
	}
	token := filepath.Join(t.TempDir(), "token.der")
	writeFile(t, token, rec.token)
	if o, err := run(t, testenv.RequireTool(t, "openssl"), "ts", "-verify", "-token_in", "-in", token,
		"-digest", hex.EncodeToString(rec.digest), "-CAfile", tsa.CAFile); err != nil {
		t.Fatalf("openssl ts -verify: %v\n%s", err, o)
	}
	stamped := signUpdateWith(t, addSignatureField(t, doc, "Timestamp1", docTimestampBody(), "", nil), 0, docTimestamper(t, tsa.URL))
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
