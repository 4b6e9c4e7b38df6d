package pades

import (
	"bytes"
	"context"
	"crypto/x509"
	"flag"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden PNGs of testdata/golden")

// Tolerances of the golden comparison: poppler's antialiasing may move a few edge pixels, a signet
// in the wrong place changes thousands (about 7,500 pixels of a 413×585 page at 50 dpi).
const (
	maxMeanDiff     = 1.0   // mean absolute difference per channel, out of 255
	maxChangedShare = 0.003 // share of pixels whose largest channel difference exceeds 64
)

// TestGoldenPositions signs invoice.pdf visibly at each of the six positions and compares the page,
// rendered by pdftoppm at 50 dpi, with testdata/golden/<position>.png. Regenerate with
// `go test ./pades -run TestGoldenPositions -update` and look at the pictures before
// committing them.
func TestGoldenPositions(t *testing.T) {
	pdftoppm := testenv.RequireTool(t, "pdftoppm")
	testKeys(t)
	// The stamp shows the certificate's validity: fixed dates keep the picture the same every day.
	cert := mustCert(t, &x509.Certificate{SerialNumber: testCyrCert.SerialNumber, Subject: testCyrCert.Subject,
		NotBefore: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2027, 11, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment}, testCACert, testRSAKey.Public(), testCAKey)
	s := Signer{Key: testRSAKey, Certificate: cert, Chain: []*x509.Certificate{testCACert}}
	in := corpus(t, "invoice.pdf")
	for _, pos := range []Position{TopLeft, TopCenter, TopRight, BottomLeft, BottomCenter, BottomRight} {
		t.Run(string(pos), func(t *testing.T) {
			o := Options{Visible: true, Position: pos, Reason: "Согласовано", Image: testImage(t, false),
				Time: time.Date(2026, 11, 22, 13, 45, 0, 0, time.FixedZone("MSK", 3*3600))}
			out, _, err := Sign(context.Background(), in, s, o)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			pdf := filepath.Join(dir, "signed.pdf")
			writeFile(t, pdf, out)
			if o, err := run(t, pdftoppm, "-png", "-r", "50", "-f", "1", "-l", "1", "-singlefile", pdf, filepath.Join(dir, "page")); err != nil {
				t.Fatalf("pdftoppm: %v\n%s", err, o)
			}
			got, err := os.ReadFile(filepath.Join(dir, "page.png"))
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "golden", string(pos)+".png")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			mean, share, err := pngDiff(want, got)
			if err == nil && mean <= maxMeanDiff && share <= maxChangedShare {
				return
			}
			keep := filepath.Join(os.TempDir(), "signet-golden-"+string(pos)+".png")
			os.WriteFile(keep, got, 0o644)
			if err != nil {
				t.Fatalf("position %s: %v; rendered page kept in %s", pos, err, keep)
			}
			t.Fatalf("position %s differs from %s: mean difference %.2f (max %.2f), %.2f%% of pixels changed (max %.2f%%); rendered page kept in %s",
				pos, golden, mean, maxMeanDiff, 100*share, 100*maxChangedShare, keep)
		})
	}
}

// pngDiff returns the mean absolute difference per channel and the share of pixels whose largest
// channel difference exceeds 64.
func pngDiff(a, b []byte) (mean, share float64, err error) {
	ia, err := png.Decode(bytes.NewReader(a))
	if err != nil {
		return 0, 0, err
	}
	ib, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return 0, 0, err
	}
	if ia.Bounds() != ib.Bounds() {
		return 0, 0, &sizeError{ia.Bounds(), ib.Bounds()}
	}
	var sum, changed, n int64
	r := ia.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			r1, g1, b1, _ := ia.At(x, y).RGBA()
			r2, g2, b2, _ := ib.At(x, y).RGBA()
			worst := int64(0)
			for _, d := range []int64{int64(r1>>8) - int64(r2>>8), int64(g1>>8) - int64(g2>>8), int64(b1>>8) - int64(b2>>8)} {
				d = max(d, -d)
				sum += d
				worst = max(worst, d)
			}
			if worst > 64 {
				changed++
			}
			n++
		}
	}
	return float64(sum) / float64(3*n), float64(changed) / float64(n), nil
}

type sizeError struct{ want, got image.Rectangle }

func (e *sizeError) Error() string {
	return "page size " + e.got.String() + ", golden " + e.want.String()
}
