package web

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/crypto/ocsp"
)

func readAllLimited(r *http.Response) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r.Body, 1<<20))
}

func malformedAnswer() []byte { return ocsp.MalformedRequestErrorResponse }

// ocspRequest is the GET form of an OCSP request for cert: base64, path-escaped.
func ocspRequest(cert, issuer *x509.Certificate) (string, error) {
	der, err := ocsp.CreateRequest(cert, issuer, &ocsp.RequestOptions{Hash: crypto.SHA256})
	if err != nil {
		return "", err
	}
	return url.PathEscape(base64.StdEncoding.EncodeToString(der)), nil
}

func ocspGet(t *testing.T, u string, issuer *x509.Certificate) *ocsp.Response {
	t.Helper()
	r, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	body, err := readAllLimited(r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ocsp.ParseResponse(body, issuer)
	if err != nil {
		t.Fatalf("OCSP answer to GET: %v", err)
	}
	return resp
}
