package pades

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	encasn1 "encoding/asn1"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/internal/testsupport/testpki"
	"github.com/signet-b24/signet/internal/testsupport/testtsa"
)

// opensslCA is an external CA run by OpenSSL on loopback, as verification-and-ltv-notes.md §6
// describes: an index.txt database, `openssl ocsp` answering for it (a delegated responder with
// id-kp-OCSPSigning and ocsp-nocheck) and `openssl ca -gencrl` making its CRL, both behind tiny
// HTTP handlers (openssl ocsp -port listens on every interface; -reqin/-respout do not listen).
// Its certificates name those handlers in their AIA and CDP.
type opensslCA struct {
	t         *testing.T
	openssl   string
	dir       string
	key       crypto.Signer
	cert      *x509.Certificate
	ocspURL   string
	crlURL    string
	mu        sync.Mutex // openssl keeps its state in files, unlocked
	index     map[string]string
	servers   []*httptest.Server
	ocspCalls int
}

func newOpenSSLCA(t *testing.T) *opensslCA {
	t.Helper()
	ca := &opensslCA{t: t, openssl: testenv.RequireTool(t, "openssl"), dir: t.TempDir(), index: map[string]string{}}
	ca.key = testpki.P256Key(t)
	now := time.Now()
	ca.cert = testpki.SelfSigned(t, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "LTV Test Root CA", Organization: []string{"OpenSSL CA"}},
		NotBefore: now.Add(-2 * time.Hour), NotAfter: now.Add(48 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}, ca.key)
	writePEM(t, ca.path("ca.pem"), ca.cert)
	writeKey(t, ca.path("ca.key"), ca.key)
	// The delegated OCSP responder (RFC 6960 §4.2.2.2) with ocsp-nocheck.
	rkey := testpki.P256Key(t)
	nocheck, _ := encasn1.Marshal(encasn1.NullRawValue)
	resp := testpki.Issue(t, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "LTV Test OCSP Responder"},
		NotBefore: now.Add(-2 * time.Hour), NotAfter: now.Add(48 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning},
		ExtraExtensions: []pkix.Extension{{Id: oidOCSPNoCheck, Value: nocheck}}}, ca.cert, rkey.Public(), ca.key)
	writePEM(t, ca.path("ocsp.pem"), resp)
	writeKey(t, ca.path("ocsp.key"), rkey)
	writeFile(t, ca.path("crlnumber"), []byte("01\n"))
	writeFile(t, ca.path("index.txt.attr"), []byte("unique_subject = no\n"))
	writeFile(t, ca.path("ca.cnf"), []byte(fmt.Sprintf(`[ ca ]
default_ca = ltv
[ ltv ]
database = %[1]s/index.txt
crlnumber = %[1]s/crlnumber
certificate = %[1]s/ca.pem
private_key = %[1]s/ca.key
default_md = sha256
default_crl_days = 7
`, ca.dir)))
	ca.writeIndex()
	ocspSrv := httptest.NewServer(http.HandlerFunc(ca.serveOCSP))
	crlSrv := httptest.NewServer(http.HandlerFunc(ca.serveCRL))
	ca.servers = []*httptest.Server{ocspSrv, crlSrv}
	ca.ocspURL, ca.crlURL = ocspSrv.URL+"/ocsp", crlSrv.URL+"/ca.crl"
	t.Cleanup(ca.close)
	return ca
}

func (ca *opensslCA) path(name string) string { return filepath.Join(ca.dir, name) }

// close stops the responder and the CRL server: what follows must work offline.
func (ca *opensslCA) close() {
	for _, s := range ca.servers {
		s.Close()
	}
}

func writeKey(t testing.TB, path string, key crypto.Signer) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// issue makes a certificate for pub with the CA's OCSP responder (ocsp) and CRL (crl) in it.
func (ca *opensslCA) issue(serial int64, cn string, pub crypto.PublicKey, ocsp, crl bool, eku ...x509.ExtKeyUsage) *x509.Certificate {
	ca.t.Helper()
	var ocspURLs, crlURLs []string
	if ocsp {
		ocspURLs = []string{ca.ocspURL}
	}
	if crl {
		crlURLs = []string{ca.crlURL}
	}
	return ca.issueWith(serial, cn, pub, ocspURLs, crlURLs, eku...)
}

// issueWith is issue with the AIA OCSP and CDP addresses given.
func (ca *opensslCA) issueWith(serial int64, cn string, pub crypto.PublicKey, ocsp, crl []string, eku ...x509.ExtKeyUsage) *x509.Certificate {
	ca.t.Helper()
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		OCSPServer: ocsp, CRLDistributionPoints: crl}
	if len(eku) == 1 && eku[0] == x509.ExtKeyUsageTimeStamping {
		v, _ := encasn1.Marshal([]encasn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
		tmpl.ExtraExtensions = []pkix.Extension{{Id: encasn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: v}}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	} else {
		tmpl.ExtKeyUsage = eku
	}
	c := testpki.Issue(ca.t, tmpl, ca.cert, pub, ca.key)
	ca.mu.Lock()
	ca.index[fmt.Sprintf("%04X", serial)] = fmt.Sprintf("V\t%s\t\t%04X\tunknown\t/CN=%s", c.NotAfter.UTC().Format("060102150405Z"), serial, cn)
	ca.mu.Unlock()
	ca.writeIndex()
	return c
}

// revoke marks a certificate revoked at 'at' in the database.
func (ca *opensslCA) revoke(c *x509.Certificate, at time.Time) {
	ca.mu.Lock()
	k := fmt.Sprintf("%04X", c.SerialNumber)
	ca.index[k] = fmt.Sprintf("R\t%s\t%s,keyCompromise\t%s\tunknown\t/CN=%s", c.NotAfter.UTC().Format("060102150405Z"), at.UTC().Format("060102150405Z"), k, c.Subject.CommonName)
	ca.mu.Unlock()
	ca.writeIndex()
}

func (ca *opensslCA) writeIndex() {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	var b strings.Builder
	for _, line := range ca.index {
		b.WriteString(line + "\n")
	}
	if err := os.WriteFile(ca.path("index.txt"), []byte(b.String()), 0o600); err != nil {
		ca.t.Error(err)
	}
}

// serveOCSP answers with `openssl ocsp -index` on the request.
func (ca *opensslCA) serveOCSP(w http.ResponseWriter, r *http.Request) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	ca.ocspCalls++
	body, _ := io.ReadAll(r.Body)
	q, out := ca.path("q.ocsp"), ca.path("r.ocsp")
	if err := os.WriteFile(q, body, 0o600); err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	if o, err := runQuiet(ca.openssl, "ocsp", "-index", ca.path("index.txt"), "-rsigner", ca.path("ocsp.pem"), "-rkey", ca.path("ocsp.key"),
		"-CA", ca.path("ca.pem"), "-ndays", "1", "-reqin", q, "-respout", out); err != nil {
		http.Error(w, string(o), 500)
		return
	}
	resp, _ := os.ReadFile(out)
	w.Header().Set("Content-Type", "application/ocsp-response")
	w.Write(resp)
}

// serveCRL makes a new CRL with `openssl ca -gencrl` on every request and serves it as DER.
func (ca *opensslCA) serveCRL(w http.ResponseWriter, r *http.Request) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	p, d := ca.path("crl.pem"), ca.path("crl.der")
	if o, err := runQuiet(ca.openssl, "ca", "-config", ca.path("ca.cnf"), "-gencrl", "-out", p); err != nil {
		http.Error(w, string(o), 500)
		return
	}
	if o, err := runQuiet(ca.openssl, "crl", "-in", p, "-outform", "DER", "-out", d); err != nil {
		http.Error(w, string(o), 500)
		return
	}
	der, _ := os.ReadFile(d)
	w.Header().Set("Content-Type", "application/pkix-crl")
	w.Write(der)
}

func (ca *opensslCA) roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// ltvFixture is a signer and a TSA from the OpenSSL CA: the signer's certificate names the OCSP
// responder and the CRL, the TSA's only the CRL (so both kinds of data end up in the DSS).
type ltvFixture struct {
	ca      *opensslCA
	signer  Signer
	tsa     *testtsa.TSA
	tsaURL  string
	tsaCert *x509.Certificate
	docTSA  string // another TSA for document timestamps, so their chains are not the signature's
}

func newLTVFixture(t *testing.T) *ltvFixture {
	t.Helper()
	testenv.RequireTool(t, "openssl")
	ca := newOpenSSLCA(t)
	key := testpki.P256Key(t)
	cert := ca.issue(0x1001, "Mary LTV", key.Public(), true, true, x509.ExtKeyUsageEmailProtection)
	tkey := testpki.P256Key(t)
	tcert := ca.issue(0x5003, "LTV Test TSA", tkey.Public(), false, true, x509.ExtKeyUsageTimeStamping)
	tsa := testtsa.Serve(t, tkey, tcert, ca.cert)
	dkey := testpki.P256Key(t)
	dcert := ca.issue(0x5004, "LTV Archive TSA", dkey.Public(), true, false, x509.ExtKeyUsageTimeStamping)
	docTSA := testtsa.Serve(t, dkey, dcert, ca.cert)
	return &ltvFixture{ca: ca, signer: Signer{Key: key, Certificate: cert, Chain: []*x509.Certificate{ca.cert}}, tsa: tsa, tsaURL: tsa.URL, tsaCert: tcert,
		docTSA: docTSA.URL}
}

func (f *ltvFixture) timestamper() Timestamper { return HTTPTimestamper{URL: f.tsaURL} }

// signBT is invoice.pdf signed B-T by Mary LTV.
func (f *ltvFixture) signBT(t *testing.T) []byte {
	t.Helper()
	doc, _, err := Sign(context.Background(), corpus(t, "invoice.pdf"), f.signer, Options{TSA: f.timestamper()})
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func (f *ltvFixture) extend(t *testing.T, doc []byte, level Level) ([]byte, *ExtendResult) {
	t.Helper()
	out, res, err := Extend(context.Background(), doc, ExtendOptions{Level: level, Timestamper: HTTPTimestamper{URL: f.docTSA}, Roots: f.ca.roots()})
	if err != nil {
		t.Fatalf("extend to %s: %v", level, err)
	}
	if !bytes.HasPrefix(out, doc) {
		t.Fatal("the input is not a prefix of the extended document")
	}
	return out, res
}

// verifyWith verifies doc against the OpenSSL CA, offline unless fetch.
func (f *ltvFixture) verify(t *testing.T, doc []byte, fetch *RevocationFetcher) (string, []SignatureInfo) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "doc.pdf")
	writeFile(t, path, doc)
	infos, err := VerifyWith(context.Background(), path, VerifyOptions{Roots: f.ca.roots(), Fetch: fetch})
	if err != nil {
		t.Fatal(err)
	}
	return path, infos
}

// dssOf reads the DSS of doc.
func dssOf(t *testing.T, doc []byte) (*dssData, *document) {
	t.Helper()
	d, err := readDocument(context.Background(), bytes.NewReader(doc), int64(len(doc)), "doc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.release)
	dss, err := d.readDSS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return dss, d
}
