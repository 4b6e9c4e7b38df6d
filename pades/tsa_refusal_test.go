package pades

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

// A real authority that refuses (openssl's TSA told to accept SHA-512 imprints only answers a SHA-256
// request with PKIStatus rejection, badAlg) fails the signature with ErrTimestampRefused, which the
// worker treats as permanent; an authority that is down (503) or unreachable fails it with
// ErrTimestamp alone, which the worker retries (worker/errors.go).
func TestTimestampRefusalAndOutage(t *testing.T) {
	refusing := newOpenSSLTSA(t)
	refusing.AcceptOnly(t, "sha512")
	in := corpus(t, "invoice.pdf")
	_, _, err := Sign(context.Background(), in, rsaSigner(t), Options{TSA: HTTPTimestamper{URL: refusing.URL}})
	if !errors.Is(err, ErrTimestampRefused) || !strings.Contains(err.Error(), "PKIStatus 2") {
		t.Fatalf("a refusing authority: got %v, want ErrTimestampRefused with the PKIStatus", err)
	}

	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", 503) }))
	defer down.Close()
	for name, url := range map[string]string{"down": down.URL, "unreachable": "http://127.0.0.1:1/tsa"} {
		_, _, err := Sign(context.Background(), in, rsaSigner(t), Options{TSA: HTTPTimestamper{URL: url}})
		if !errors.Is(err, ErrTimestamp) || errors.Is(err, ErrTimestampRefused) {
			t.Errorf("an authority %s: got %v, want ErrTimestamp and not a refusal", name, err)
		}
	}
}

// A B-T signature (timestamp from openssl's TSA) judged by tools we did not write: qpdf and pdfsig
// accept the document (poppler 22.12's pdfsig prints no line for the signature timestamp, only the
// signing time), and openssl cms finds the token as the unsigned attribute
// id-smime-aa-timeStampToken of the signer (ETSI EN 319 122-1 §5.3).
func TestBTSignatureJudgedByThirdParties(t *testing.T) {
	tsa := newOpenSSLTSA(t)
	in := corpus(t, "invoice.pdf")
	out, res, err := Sign(context.Background(), in, rsaSigner(t), Options{TSA: HTTPTimestamper{URL: tsa.URL}})
	if err != nil {
		t.Fatal(err)
	}
	checkSigned(t, in, out, res, 1)
	cms := filepath.Join(t.TempDir(), "sig.p7s")
	writeFile(t, cms, res.CMS)
	o, err := run(t, testenv.RequireTool(t, "openssl"), "cms", "-cmsout", "-print", "-inform", "DER", "-in", cms)
	if err != nil {
		t.Fatalf("openssl cms -print: %v\n%s", err, o)
	}
	i := strings.Index(o, "unsignedAttrs:")
	if i < 0 || !strings.Contains(o[i:], "id-smime-aa-timeStampToken") {
		t.Fatalf("openssl cms finds no signature timestamp token among the unsigned attributes:\n%s", o)
	}
}
