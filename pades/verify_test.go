package pades

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	roots := x509.NewCertPool()
	testKeys(t)
	roots.AddCert(testCACert)
	srv := httptest.NewServer(newTestTSA(t))
	defer srv.Close()
	when := time.Now().UTC().Truncate(time.Second)

	doc := corpus(t, "xref-stream.pdf")
	var err error
	doc, _, err = Sign(context.Background(), doc, rsaSigner(t), Options{Time: when, PSS: true})
	if err != nil {
		t.Fatal(err)
	}
	doc, _, err = Sign(context.Background(), doc, ecSigner(t), Options{Time: when, TSA: HTTPTimestamper{URL: srv.URL}, Visible: true})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "signed.pdf")
	writeFile(t, path, doc)
	infos, err := Verify(path, roots)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 {
		t.Fatalf("%d signatures, want 2", len(infos))
	}
	for i, want := range []struct {
		signer string
		whole  bool
		ts     bool
	}{{"Mary Smith", false, false}, {"John Doe", true, true}} {
		in := infos[i]
		if in.Signer != want.signer || in.CoversWholeFile != want.whole || !in.DigestValid || !in.ChainTrusted ||
			in.SubFilter != "ETSI.CAdES.detached" || !in.SigningTime.Equal(when) || in.TimestampTime.IsZero() != !want.ts || len(in.Problems) > 0 {
			t.Errorf("signature %d: %+v", i, in)
		}
	}

	// Untrusted roots: the digest is still valid, the chain is not.
	infos, _ = Verify(path, x509.NewCertPool())
	if !infos[0].DigestValid || infos[0].ChainTrusted {
		t.Errorf("with empty roots: %+v", infos[0])
	}

	// One changed byte inside the signed range is caught.
	tampered := append([]byte(nil), doc...)
	tampered[11] ^= 0x01 // the binary comment after the header: the file still parses
	writeFile(t, path, tampered)
	infos, err = Verify(path, roots)
	if err != nil {
		t.Fatal(err)
	}
	if infos[0].DigestValid || infos[1].DigestValid {
		t.Errorf("tampered file verifies: %+v", infos)
	}

	// A poppler-made adbe.pkcs7.detached signature is read too.
	infos, err = Verify(filepath.Join("..", "testdata", "pdf", "pdfsig-signed.pdf"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || !infos[0].DigestValid || infos[0].SubFilter != "adbe.pkcs7.detached" || !infos[0].CoversWholeFile {
		t.Errorf("pdfsig-signed.pdf: %+v", infos)
	}

	if _, err := Verify(filepath.Join("..", "testdata", "pdf", "invoice.pdf"), roots); !errors.Is(err, ErrNoSignature) {
		t.Errorf("unsigned file: got %v, want ErrNoSignature", err)
	}
}
