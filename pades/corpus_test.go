package pades

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestCorpus signs every signable file of testdata/pdf (see make-corpus.sh) on its first and last
// page and judges the output with qpdf, pdfsig and openssl.
func TestCorpus(t *testing.T) {
	cases := []struct {
		file     string
		earlier  int // signatures already in the file
		lastPage bool
	}{
		{"invoice.pdf", 0, false},
		{"xref-stream.pdf", 0, true},
		{"linearized.pdf", 0, false},
		{"rotated-90.pdf", 0, false},
		{"rotated-180.pdf", 0, false},
		{"rotated-270.pdf", 0, false},
		{"multipage.pdf", 0, true},
		{"multipage-xref-stream.pdf", 0, true},
		{"incremental.pdf", 0, false},
		{"pdfsig-signed.pdf", 1, true},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			if _, err := os.Stat(filepath.Join("..", "testdata", "pdf", c.file)); err != nil && c.earlier > 0 {
				t.Skip("optional corpus file not made (pdfsig -add-signature unavailable)")
			}
			in := corpus(t, c.file)
			o := Options{Reason: "corpus"}
			if c.lastPage {
				o.Page = -1
			}
			out, res, err := Sign(context.Background(), in, ecSigner(t), o)
			if err != nil {
				t.Fatal(err)
			}
			checkSigned(t, in, out, res, c.earlier+1)
		})
	}
}

// TestSignTwice signs signed outputs again: every earlier signature must stay valid.
func TestSignTwice(t *testing.T) {
	for _, file := range []string{"invoice.pdf", "xref-stream.pdf"} {
		t.Run(file, func(t *testing.T) {
			doc := corpus(t, file)
			for i, s := range []Signer{rsaSigner(t), ecSigner(t), rsaSigner(t)} {
				out, res, err := Sign(context.Background(), doc, s, Options{})
				if err != nil {
					t.Fatal(err)
				}
				if want := "Signature" + itoa(i+1); res.FieldName != want {
					t.Errorf("field %q, want %q", res.FieldName, want)
				}
				checkSigned(t, doc, out, res, i+1)
				doc = out
			}
		})
	}
}
