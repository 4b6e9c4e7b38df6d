// Command forgecorpus writes the forged corpus of issue 17 must 8 into a folder: forgeries of a
// document signed by Signet's engine (shadow content replacement, overlay annotation, page added,
// content in the ByteRange gap, information and XMP changes, a swapped signature, a form filled
// against a certification) and legitimate updates (a second signature, a DSS, a document
// timestamp, form filling where allowed), with manifest.json saying what a verifier must answer
// for each, and trust.pem with the roots that answer assumes.
//
//	go run ./cmd/forgecorpus -out /tmp/corpus [-in doc.pdf] [-tsa http://tsa.example/]
//
// It is a program under cmd/, not a test, so that the same files can be handed to other
// validators (Acrobat, EU DSS, pyHanko); and not a command of `signet`, because it forges. The
// builders are internal/testsupport/forge's, which cmd/signet's TestForgedCorpusVerdicts runs
// with a key on SoftHSM and judges with `signet verify`, pdfsig, qpdf and pdftotext. Here the key
// is a software key made for the run, and the other tool's signatures (gap, certification) come
// from `openssl cms`, which must be on the PATH.
package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/signet-b24/signet/internal/testsupport/forge"
	"github.com/signet-b24/signet/pades"
)

// fatal is forge.TB for a program: a builder that fails ends the run.
type fatal struct{}

func (fatal) Helper()           {}
func (fatal) Fatal(args ...any) { log.Fatal(args...) }

func main() {
	out := flag.String("out", "", "folder to write the corpus into (created)")
	in := flag.String("in", "testdata/pdf/invoice.pdf", "unsigned PDF to forge from (its page content in one stream)")
	tsa := flag.String("tsa", "", "RFC 3161 authority for the document timestamp case; empty leaves it out")
	flag.Parse()
	if *out == "" {
		log.Fatal("give -out DIR")
	}
	if err := run(*out, *in, *tsa); err != nil {
		log.Fatal(err)
	}
}

func run(out, in, tsa string) error {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		return fmt.Errorf("openssl signs the layouts Signet does not make: %w", err)
	}
	original, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	signetCA, signetCAKey, err := certificate("Signet Corpus CA", nil, nil, true)
	if err != nil {
		return err
	}
	mary, maryKey, err := certificate("Mary (corpus)", signetCA, signetCAKey, false)
	if err != nil {
		return err
	}
	other, otherKey, err := certificate("Other Tool CA (corpus)", nil, nil, true)
	if err != nil {
		return err
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(otherKey)
	tmp, err := os.MkdirTemp("", "forgecorpus-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	certFile, keyFile := filepath.Join(tmp, "other.pem"), filepath.Join(tmp, "other.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: other.Raw}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	signer := pades.Signer{Key: maryKey, Certificate: mary, Chain: []*x509.Certificate{signetCA}}
	tools := forge.Tools{
		Sign: func(pdf []byte) ([]byte, error) {
			b, _, err := pades.Sign(context.Background(), pdf, signer, pades.Options{})
			return b, err
		},
		CMS:  forge.OpenSSLCMS(openssl, certFile, keyFile),
		Cert: signetCA.Raw,
	}
	if tsa != "" {
		tools.Stamp = func(d []byte) ([]byte, error) {
			return pades.HTTPTimestamper{URL: tsa}.Timestamp(context.Background(), d, crypto.SHA256)
		}
	}
	cases, files := forge.Build(fatal{}, original, tools)
	if err := forge.Write(out, cases, files); err != nil {
		return err
	}
	var trust bytes.Buffer
	for _, c := range []*x509.Certificate{signetCA, other} {
		pem.Encode(&trust, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	if err := os.WriteFile(filepath.Join(out, "trust.pem"), trust.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Printf("%d files, manifest.json and trust.pem in %s (add your TSA's root to trust.pem for the document timestamp)\n", len(cases), out)
	return nil
}

// certificate makes a P-256 key and its certificate, issued by parent (self-signed when nil),
// valid for a year.
func certificate(cn string, parent *x509.Certificate, parentKey crypto.Signer, ca bool) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(365 * 24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment}
	if ca {
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign|x509.KeyUsageDigitalSignature
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return nil, nil, err
	}
	c, err := x509.ParseCertificate(der)
	return c, key, err
}
