package evidence

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/internal/testsupport/testpki"
	"github.com/signet-b24/signet/pades"
)

func corpus(name string) string { return filepath.Join("..", "..", "testdata", "pdf", name) }

// testSigner is an in-Go RSA key with a self-signed certificate, as in pades's tests.
func testSigner(t *testing.T) pades.Signer {
	t.Helper()
	key := testpki.RSAKey(t, 2048)
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(0x2026), Subject: pkix.Name{CommonName: "Мария Иванова", Organization: []string{"ACME Trading"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment}
	return pades.Signer{Key: key, Certificate: testpki.SelfSigned(t, tmpl, key)}
}

func tool(t *testing.T, name string, args ...string) string {
	t.Helper()
	testenv.RequireTool(t, name)
	var stderr strings.Builder
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr // zbarimg talks about D-Bus there
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s%s", name, args, err, out, stderr.String())
	}
	return string(out)
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// The prepared document shows the stripe on every page and the completion page with a QR code that
// decodes to the verification URL; the signature made afterwards covers them (pdfsig), and the facts
// read back from the signed file are the ones given.
func TestPreparedDocumentCarriesItsEvidenceUnderTheSignature(t *testing.T) {
	dir := t.TempDir()
	in := corpus("multipage.pdf")
	signer := testSigner(t)
	facts := Facts{
		DocumentID: "r3f1c2a9d0b4e5f60718293a4b5c6d7e8", Signer: "Мария Иванова (mary)",
		Certificate: signer.Certificate.Subject.String(), CertSerial: "20:26",
		Time: time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC), PublicURL: "https://signet.acme.example/",
	}
	prepared := filepath.Join(dir, "prepared.pdf")
	if err := Prepare(context.Background(), in, prepared, facts); err != nil {
		t.Fatal(err)
	}
	original := sha256File(t, in)
	verifyURL := "https://signet.acme.example/verify/" + facts.DocumentID

	// Text: the id on every page, the completion page's facts at the end.
	pages := strings.Split(tool(t, "pdftotext", "-layout", prepared, "-"), "\f")
	if len(pages) < 4 {
		t.Fatalf("pdftotext found %d pages, want 3 + the completion page", len(pages)-1)
	}
	for i, p := range pages[:4] {
		if !strings.Contains(p, facts.DocumentID) {
			t.Errorf("page %d does not show the document id:\n%s", i+1, p)
		}
	}
	last := pages[3]
	for _, want := range []string{"Certificate of completion", original, "Мария Иванова (mary)", "20:26", "22 Nov 2026 10:30 UTC", verifyURL} {
		if !strings.Contains(last, want) {
			t.Errorf("completion page lacks %q:\n%s", want, last)
		}
	}

	// Pixels: the stripe is a grey band at the foot of page 1; the QR code on the last page decodes.
	tool(t, "pdftoppm", "-png", "-r", "100", prepared, filepath.Join(dir, "page"))
	first := readPNG(t, filepath.Join(dir, "page-1.png"))
	if !hasStripe(first) {
		t.Errorf("no grey stripe at the foot of page 1 (see %s)", filepath.Join(dir, "page-1.png"))
	}
	qr := tool(t, "zbarimg", "--quiet", "--raw", filepath.Join(dir, "page-4.png"))
	if strings.TrimSpace(qr) != verifyURL {
		t.Errorf("QR code decodes to %q, want %q", qr, verifyURL)
	}
	if os.Getenv("SIGNET_KEEP_PNG") != "" {
		for _, n := range []string{"page-1.png", "page-4.png"} {
			b, _ := os.ReadFile(filepath.Join(dir, n))
			os.WriteFile(filepath.Join(os.Getenv("SIGNET_KEEP_PNG"), n), b, 0o644)
		}
	}

	// The signature covers everything Prepare added.
	signed := filepath.Join(dir, "signed.pdf")
	res, err := pades.SignFile(context.Background(), prepared, signed, signer, pades.Options{Reason: "Approved"})
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(res.SHA256Before[:]) != sha256File(t, prepared) {
		t.Fatal("the signature was not made over the prepared file")
	}
	sig := tool(t, "pdfsig", signed)
	if !strings.Contains(sig, "Signature is Valid.") || !strings.Contains(sig, "Total document signed") {
		t.Fatalf("pdfsig:\n%s", sig)
	}

	got, err := Read(signed)
	if err != nil {
		t.Fatal(err)
	}
	want := facts
	want.OriginalSHA256, want.FileName, want.PublicURL = original, "multipage.pdf", "https://signet.acme.example"
	if *got != want {
		t.Fatalf("facts read back:\n got %+v\nwant %+v", *got, want)
	}

	// A signed document is refused: rewriting it would break its signature.
	err = Prepare(context.Background(), signed, filepath.Join(dir, "again.pdf"), facts)
	if !errors.Is(err, ErrAlreadySigned) {
		t.Fatalf("preparing a signed file: %v, want ErrAlreadySigned", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "again.pdf")); !os.IsNotExist(err) {
		t.Fatal("a refused input left an output file")
	}
}

func TestPrepareRefusesWhatItMustNotRewrite(t *testing.T) {
	facts := Facts{DocumentID: "r1", PublicURL: "https://signet.example"}
	for _, c := range []struct {
		file string
		want error
	}{
		{"pdfsig-signed.pdf", ErrAlreadySigned},
		{"encrypted.pdf", ErrEncrypted},
		{"encrypted-nopass.pdf", ErrEncrypted},
		{"not-a-pdf.pdf", ErrNotPDF},
	} {
		err := Prepare(context.Background(), corpus(c.file), filepath.Join(t.TempDir(), "out.pdf"), facts)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.file, err, c.want)
		}
	}
	if _, err := Read(corpus("invoice.pdf")); !errors.Is(err, ErrNoEvidence) {
		t.Errorf("reading facts from a plain PDF: %v, want ErrNoEvidence", err)
	}
}

// What never works is ErrUnusable (the worker refuses the job for good); what passes is not: a job
// cancelled at the worker's drain deadline, or a file that cannot be read now, is tried again.
func TestPrepareTellsWhatPassesFromWhatNeverWorks(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.pdf")
	err := Prepare(context.Background(), corpus("invoice.pdf"), out, Facts{DocumentID: "a/../b", PublicURL: "https://signet.example"})
	if !errors.Is(err, ErrUnusable) {
		t.Errorf("a document id that cannot go into a URL: %v, want ErrUnusable", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = Prepare(ctx, corpus("invoice.pdf"), out, Facts{DocumentID: "r1", PublicURL: "https://signet.example"})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnusable) || errors.Is(err, ErrNotPDF) {
		t.Errorf("a cancelled job: %v, want context.Canceled and nothing that reads as never-will-work", err)
	}
	err = Prepare(context.Background(), filepath.Join(t.TempDir(), "gone.pdf"), out, Facts{DocumentID: "r1", PublicURL: "https://signet.example"})
	if err == nil || errors.Is(err, ErrUnusable) || errors.Is(err, ErrNotPDF) {
		t.Errorf("a file that cannot be read now: %v, want an error that passes", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused Prepare left %s behind (%v)", out, err)
	}
}

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// hasStripe looks for the stripe's light grey (#E4E4E4) in the bottom 3% of the page's middle.
func hasStripe(img image.Image) bool {
	b := img.Bounds()
	grey := 0
	for y := b.Max.Y - b.Dy()*3/100; y < b.Max.Y; y++ {
		for x := b.Min.X + b.Dx()/4; x < b.Max.X-b.Dx()/4; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r>>8 >= 0xD8 && r>>8 <= 0xEC && r == g && g == bl {
				grey++
			}
		}
	}
	return grey > b.Dx()/8
}

// Workers prepare documents in parallel; each output must be whole and carry its own id.
func TestPrepareConcurrently(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := Facts{DocumentID: fmt.Sprintf("r%d", i), Signer: "Мария Иванова", PublicURL: "https://signet.example"}
			out := filepath.Join(dir, fmt.Sprintf("o%d.pdf", i))
			if err := Prepare(context.Background(), corpus("multipage.pdf"), out, f); err != nil {
				t.Error(err)
				return
			}
			if got, err := Read(out); err != nil || got.DocumentID != f.DocumentID {
				t.Errorf("document %d: read back %+v, %v", i, got, err)
			}
		}()
	}
	wg.Wait()
}

// BenchmarkPrepare measures stripe + completion page on the one-page invoice (pdfcpu rewrites the
// file; most of the time goes into subsetting and compressing the font).
func BenchmarkPrepare(b *testing.B) {
	dir := b.TempDir()
	f := Facts{DocumentID: "r3f1c2a9d0b4e5f60718293a4b5c6d7e8", Signer: "Мария Иванова (mary)", Certificate: "CN=Мария Иванова,O=ACME",
		CertSerial: "20:26", PublicURL: "https://signet.acme.example"}
	for b.Loop() {
		if err := Prepare(context.Background(), corpus("invoice.pdf"), filepath.Join(dir, "out.pdf"), f); err != nil {
			b.Fatal(err)
		}
	}
}

// Issue 18: the stripe and the certificate of completion in the job's language, with the time in the
// signer's zone and its offset; the recorded facts keep UTC.
func TestEvidenceInSignersLanguageAndZone(t *testing.T) {
	at := time.Date(2026, 12, 2, 11, 5, 0, 0, time.UTC)
	for _, c := range []struct {
		lang, zone string
		want       []string
		not        string
	}{
		{"ru", "Europe/Moscow", []string{"Лист удостоверения подписания", "Время подписания:", "02.12.2026 14:05 (UTC+03:00)", "Подписант:",
			"Документ Signet r1ru", "проверка:", "Отсканируйте код"}, "Certificate of completion"},
		{"ru", "Asia/Yekaterinburg", []string{"Лист удостоверения подписания", "02.12.2026 16:05 (UTC+05:00)"}, "Signet document"},
		{"en", "Asia/Yekaterinburg", []string{"Certificate of completion", "2 Dec 2026 16:05 UTC+5", "Signet document r1en", "verify:"}, "Подписант"},
	} {
		t.Run(c.lang+"/"+c.zone, func(t *testing.T) {
			zone, err := i18n.LoadZone(c.zone)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			f := Facts{DocumentID: "r1" + c.lang, Signer: "Мария Иванова (mary)", Certificate: "CN=Мария Иванова", CertSerial: "20:26",
				Time: at, PublicURL: "https://signet.example", Language: c.lang, Zone: zone}
			out := filepath.Join(dir, "prepared.pdf")
			if err := Prepare(context.Background(), corpus("invoice.pdf"), out, f); err != nil {
				t.Fatal(err)
			}
			// Rendered (the words must be drawn, not only present) and read back.
			tool(t, "pdftoppm", "-png", "-r", "50", out, filepath.Join(dir, "page"))
			if keep := os.Getenv("SIGNET_KEEP_PNG"); keep != "" { // to look at the pages
				for _, n := range []string{"page-1.png", "page-2.png"} {
					b, _ := os.ReadFile(filepath.Join(dir, n))
					os.WriteFile(filepath.Join(keep, c.lang+"-"+strings.ReplaceAll(c.zone, "/", "-")+"-"+n), b, 0o644)
				}
			}
			text := tool(t, "pdftotext", "-layout", out, "-")
			for _, want := range c.want {
				if !strings.Contains(text, want) {
					t.Errorf("lacks %q:\n%s", want, text)
				}
			}
			if strings.Contains(text, c.not) {
				t.Errorf("has %q, a word of another language:\n%s", c.not, text)
			}
			got, err := Read(out)
			if err != nil || !got.Time.Equal(at) || got.Time.Location() != time.UTC {
				t.Errorf("recorded time %v (%v), want %v in UTC", got.Time, err, at)
			}
		})
	}
}
