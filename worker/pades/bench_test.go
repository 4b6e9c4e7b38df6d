package pades

import (
	"bytes"
	"context"
	"crypto"
	"testing"
)

// The PDF work per document (parse, update, digest, CMS encoding) must stay far below one RSA-2048
// signature on the token; compare BenchmarkParse+BenchmarkUpdate+BenchmarkDigest with
// BenchmarkCMS/rsa2048, which is dominated by the in-Go RSA signature.

func BenchmarkParse(b *testing.B) {
	in := corpus(b, "invoice.pdf")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := readDocument(context.Background(), bytes.NewReader(in), int64(len(in)), "invoice.pdf"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdate is parse plus laying out the whole incremental update.
func BenchmarkUpdate(b *testing.B) {
	in := corpus(b, "invoice.pdf")
	s := ecSigner(b)
	for _, c := range []struct {
		name string
		o    Options
	}{{"invisible", Options{}}, {"visible", Options{Visible: true, Name: "Иванов Иван Иванович"}}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := prepare(context.Background(), bytes.NewReader(in), int64(len(in)), "invoice.pdf", s, c.o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDigest(b *testing.B) {
	in := corpus(b, "invoice.pdf")
	p, err := prepare(context.Background(), bytes.NewReader(in), int64(len(in)), "invoice.pdf", ecSigner(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	tail := p.w.buf.Bytes()
	b.SetBytes(int64(len(in) + len(tail)))
	for b.Loop() {
		h := crypto.SHA256.New()
		h.Write(in)
		h.Write(tail[:p.layout.contentsAt])
		h.Write(tail[p.layout.contentsAt+p.layout.hexLen+2:])
		h.Sum(nil)
	}
}

func BenchmarkCMS(b *testing.B) {
	digest := make([]byte, 32)
	for _, c := range []struct {
		name string
		s    Signer
	}{{"rsa2048", rsaSigner(b)}, {"ecdsa-p256", ecSigner(b)}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := buildCMS(context.Background(), digest, c.s, cmsParams{hash: crypto.SHA256}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSignInvoice(b *testing.B) {
	in := corpus(b, "invoice.pdf")
	s := rsaSigner(b)
	for _, c := range []struct {
		name string
		o    Options
	}{{"invisible", Options{}}, {"visible", Options{Visible: true, Name: "Иванов Иван Иванович"}}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Sign(context.Background(), in, s, c.o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
