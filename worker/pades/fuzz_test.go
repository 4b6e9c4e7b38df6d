package pades

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

// FuzzSign feeds arbitrary bytes to the reader and updater: it must never panic, must fail only
// with the package's sentinel errors, and a success must keep the input as an exact prefix and be
// readable again. Seeds: testdata/fuzz/FuzzSign, the PDF corpus and a hybrid-reference file.
func FuzzSign(f *testing.F) {
	for _, name := range []string{"invoice.pdf", "xref-stream.pdf", "incremental.pdf", "truncated.pdf", "not-a-pdf.pdf", "multipage.pdf"} {
		f.Add(corpus(f, name))
	}
	f.Add(hybridPDF())
	s := ecSigner(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		var out []byte
		var err error
		done := make(chan struct{})
		go func() { out, _, err = Sign(context.Background(), in, s, Options{Page: -1}); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Sign did not return within 10 s") // a hang; not a timing assertion on speed
		}
		if err != nil {
			for _, sentinel := range []error{ErrNotPDF, ErrCorrupt, ErrEncrypted, ErrCertified, ErrFieldInUse, ErrBadOptions, ErrCMSTooLarge} {
				if errors.Is(err, sentinel) {
					return
				}
			}
			t.Fatalf("error without a sentinel: %v", err)
		}
		if !bytes.HasPrefix(out, in) {
			t.Fatal("input is not a prefix of the output")
		}
		if _, err := readDocument(context.Background(), bytes.NewReader(out), int64(len(out)), "out"); err != nil {
			t.Fatalf("signed output unreadable: %v", err)
		}
	})
}
