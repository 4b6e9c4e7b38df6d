package pades

import (
	"context"
	"crypto"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSignInvisible(t *testing.T) {
	cases := []struct {
		name   string
		file   string
		signer func(testing.TB) Signer
		opts   Options
	}{
		{"rsa classic xref", "invoice.pdf", rsaSigner, Options{Reason: "Approved", Location: "Springfield"}},
		{"ecdsa classic xref", "invoice.pdf", ecSigner, Options{}},
		{"rsa xref stream", "xref-stream.pdf", rsaSigner, Options{}},
		{"ecdsa xref stream", "xref-stream.pdf", ecSigner, Options{Name: "John Doe"}},
		{"rsa-pss sha-384", "invoice.pdf", rsaSigner, Options{PSS: true, Hash: crypto.SHA384}},
		{"ecdsa sha-512", "xref-stream.pdf", ecSigner, Options{Hash: crypto.SHA512}},
		{"cyrillic reason", "invoice.pdf", rsaSigner, Options{Reason: "Согласовано", Name: "Иванов Иван Иванович"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := corpus(t, c.file)
			c.opts.Time = time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)
			out, res, err := Sign(context.Background(), in, c.signer(t), c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.FieldName != "Signature1" {
				t.Errorf("field %q, want Signature1", res.FieldName)
			}
			if !strings.Contains(string(out[len(in):]), "/M (D:20261122103000Z)") {
				t.Errorf("signing time not written as /M")
			}
			checkSigned(t, in, out, res, 1)
		})
	}
}

func TestSignErrors(t *testing.T) {
	cases := []struct {
		file string
		want error
	}{
		{"not-a-pdf.pdf", ErrNotPDF},
		{"truncated.pdf", ErrCorrupt},
		{"encrypted.pdf", ErrEncrypted},
		{"encrypted-nopass.pdf", ErrEncrypted},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			_, _, err := Sign(context.Background(), corpus(t, c.file), rsaSigner(t), Options{})
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

// TestNoFinalEOL signs a file whose %%EOF has no end-of-line marker: the update must start on a
// new line (ISO 32000-1 §7.5.6) and the input stays a prefix.
func TestNoFinalEOL(t *testing.T) {
	in := corpus(t, "invoice.pdf")
	in = []byte(strings.TrimRight(string(in), "\r\n"))
	out, res, err := Sign(context.Background(), in, ecSigner(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkSigned(t, in, out, res, 1)
}
