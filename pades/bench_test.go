package pades

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"path/filepath"
	"testing"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/keyring"
	"github.com/signet-b24/signet/keyring/softhsm"
)

// The PDF work per document (parse, update, digest, CMS encoding) must stay far below one RSA-2048
// signature on the token. The stages: BenchmarkParse (cross-reference chain and catalog),
// BenchmarkUpdate (parse + the whole incremental update), BenchmarkDigest (the ByteRange hash),
// BenchmarkCMS/encode (the CMS around a ready signature value), BenchmarkCSign (one C_Sign on a
// SoftHSM RSA-2048 key through crypto11, as in production). BenchmarkParsePdfcpu is the reader the
// engine used before (every object and stream loaded), for comparison.

func BenchmarkParse(b *testing.B) {
	in := corpus(b, "invoice.pdf")
	b.ReportAllocs()
	for b.Loop() {
		d, err := readDocument(context.Background(), bytes.NewReader(in), int64(len(in)), "invoice.pdf")
		if err != nil {
			b.Fatal(err)
		}
		d.release()
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

// BenchmarkParsePdfcpu reads the same document with pdfcpu's ReadContext, as the engine did before.
func BenchmarkParsePdfcpu(b *testing.B) {
	in := corpus(b, "invoice.pdf")
	api.DisableConfigDir()
	conf := model.NewDefaultConfiguration()
	conf.ValidationMode = model.ValidationRelaxed
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pdfcpu.Read(bytes.NewReader(in), conf); err != nil {
			b.Fatal(err)
		}
	}
}

// fixedSigner returns a constant RSA-2048-sized signature: BenchmarkCMS/encode measures the CMS
// encoding alone.
type fixedSigner struct{ crypto.Signer }

func (f fixedSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return make([]byte, 256), nil
}

func BenchmarkCMS(b *testing.B) {
	digest := make([]byte, 32)
	rs := rsaSigner(b)
	encode := Signer{Key: fixedSigner{rs.Key}, Certificate: rs.Certificate, Chain: rs.Chain}
	for _, c := range []struct {
		name string
		s    Signer
	}{{"encode", encode}, {"rsa2048", rs}, {"ecdsa-p256", ecSigner(b)}} {
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

// BenchmarkCSign is one signature of a SHA-256 digest by an RSA-2048 key on a SoftHSM token
// through crypto11 (keyring), the stage every document pays; -cpu 1,2 shows how it scales.
func BenchmarkCSign(b *testing.B) {
	testenv.RequireTool(b, "softhsm2-util")
	dir := b.TempDir()
	module, err := softhsm.Init(filepath.Join(dir, "hsm"), "bench", "bench-so-4711", "bench-user-4711")
	if err != nil {
		b.Fatal(err)
	}
	pin := filepath.Join(dir, "pin")
	writeFile(b, pin, []byte("bench-user-4711\n"))
	k, err := keyring.Open(context.Background(), []keyring.TokenConfig{{Module: module, Label: "bench", PinFile: pin}}, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	defer k.Close()
	cred, err := k.GenerateSelfSigned(context.Background(), "bench", "rsa-bench", "CN=Bench", keyring.RSA2048, 1)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("signet"))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := cred.Key.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
				b.Error(err)
				return
			}
		}
	})
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
