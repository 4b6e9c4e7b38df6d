package pades

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	encasn1 "encoding/asn1"
	"encoding/hex"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

// testTSA is a tiny RFC 3161 authority on loopback: it answers a TimeStampReq with a token whose
// TSTInfo is signed by a certificate with the critical timeStamping extended key usage.
type testTSA struct {
	signer Signer
	serial int64
}

func newTestTSA(t testing.TB) *testTSA {
	key, cert := tsaCertificate(t, 5001, "Signet Test TSA")
	return &testTSA{signer: Signer{Key: key, Certificate: cert, Chain: []*x509.Certificate{testCACert}}}
}

// tsaCertificate is a P-256 key and its certificate from the test CA with the critical
// timeStamping extended key usage (RFC 3161 §2.3).
func tsaCertificate(t testing.TB, serial int64, cn string) (*ecdsa.PrivateKey, *x509.Certificate) {
	testKeys(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	eku, _ := encasn1.Marshal([]encasn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	cert := mustCert(t, &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: encasn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}}},
		testCACert, key.Public(), testCAKey)
	return key, cert
}

// docTimestamper makes the /Contents of a document timestamp: a token from the TSA at url over
// the ByteRange digest.
func docTimestamper(t testing.TB, url string) func(digest []byte) []byte {
	return func(digest []byte) []byte {
		tok, err := HTTPTimestamper{URL: url}.Timestamp(context.Background(), digest, crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
}

type serverTSTInfo struct {
	Version        int
	Policy         encasn1.ObjectIdentifier
	MessageImprint messageImprint
	SerialNumber   *big.Int
	GenTime        time.Time `asn1:"generalized"`
	Nonce          *big.Int  `asn1:"optional"`
}

type pkiStatusInfo struct{ Status int }

func (a *testTSA) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req timeStampReq
	if _, err := encasn1.Unmarshal(body, &req); err != nil || r.Header.Get("Content-Type") != "application/timestamp-query" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	a.serial++
	info, _ := encasn1.Marshal(serverTSTInfo{Version: 1, Policy: encasn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1},
		MessageImprint: req.MessageImprint, SerialNumber: big.NewInt(a.serial), GenTime: time.Now().UTC().Truncate(time.Second), Nonce: req.Nonce})
	h := crypto.SHA256.New()
	h.Write(info)
	token, err := buildCMS(r.Context(), h.Sum(nil), a.signer, cmsParams{hash: crypto.SHA256, eContentType: oidTSTInfo, eContent: info})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	resp, _ := encasn1.Marshal(struct {
		Status pkiStatusInfo
		Token  encasn1.RawValue
	}{pkiStatusInfo{0}, encasn1.RawValue{FullBytes: token}})
	w.Header().Set("Content-Type", "application/timestamp-reply")
	w.Write(resp)
}

// recordingTSA keeps the digest and token of the last request, for openssl ts -verify.
type recordingTSA struct {
	HTTPTimestamper
	digest, token []byte
}

func (r *recordingTSA) Timestamp(ctx context.Context, digest []byte, h crypto.Hash) ([]byte, error) {
	tok, err := r.HTTPTimestamper.Timestamp(ctx, digest, h)
	r.digest, r.token = digest, tok
	return tok, err
}

func TestSignWithTimestamp(t *testing.T) {
	openssl := testenv.RequireTool(t, "openssl")
	tsa := newTestTSA(t)
	srv := httptest.NewServer(tsa)
	defer srv.Close()
	rec := &recordingTSA{HTTPTimestamper: HTTPTimestamper{URL: srv.URL}}
	in := corpus(t, "invoice.pdf")
	out, res, err := Sign(context.Background(), in, rsaSigner(t), Options{TSA: rec})
	if err != nil {
		t.Fatal(err)
	}
	checkSigned(t, in, out, res, 1)
	sd, err := parseSignedData(res.CMS)
	if err != nil {
		t.Fatal(err)
	}
	if string(sd.signers[0].unsigned[oidAttrTimeStampToken.String()]) != string(rec.token) {
		t.Fatal("the CMS does not carry the token as id-aa-signatureTimeStampToken")
	}
	sum := crypto.SHA256.New()
	sum.Write(sd.signers[0].signature)
	if hex.EncodeToString(sum.Sum(nil)) != hex.EncodeToString(rec.digest) {
		t.Fatal("the token is not over the digest of the signature value")
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "token.der"), rec.token)
	writePEM(t, filepath.Join(dir, "ca.pem"), testCACert)
	if o, err := run(t, openssl, "ts", "-verify", "-token_in", "-in", filepath.Join(dir, "token.der"),
		"-digest", hex.EncodeToString(rec.digest), "-CAfile", filepath.Join(dir, "ca.pem")); err != nil {
		t.Fatalf("openssl ts -verify: %v\n%s", err, o)
	}

	// A failing authority fails the signature with ErrTimestamp.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", 503) }))
	defer bad.Close()
	if _, _, err := Sign(context.Background(), in, rsaSigner(t), Options{TSA: HTTPTimestamper{URL: bad.URL}}); !errorsIs(err, ErrTimestamp) {
		t.Fatalf("got %v, want ErrTimestamp", err)
	}
}
