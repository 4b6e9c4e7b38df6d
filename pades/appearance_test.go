package pades

import (
	"bytes"
	"context"
	"crypto/x509"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

// testImage is a round stamp with a transparent background.
func testImage(t testing.TB, asJPEG bool) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 64, 64))
	for y := range 64 {
		for x := range 64 {
			dx, dy := x-32, y-32
			if d := dx*dx + dy*dy; d < 900 && d > 500 || (dx > -4 && dx < 4 && d < 400) {
				img.Set(x, y, color.NRGBA{R: 200, G: 30, B: 40, A: 255})
			}
		}
	}
	var b bytes.Buffer
	var err error
	if asJPEG {
		err = jpeg.Encode(&b, img, nil)
	} else {
		err = png.Encode(&b, img)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestVisible draws the signet in all six positions, on rotated pages, with a Cyrillic signer name
// and an image, and checks the text with pdftotext. Set SIGNET_KEEP_PNG=dir to look at the pages.
func TestVisible(t *testing.T) {
	testKeys(t)
	pdftotext := testenv.RequireTool(t, "pdftotext")
	s := Signer{Key: testRSAKey, Certificate: testCyrCert, Chain: []*x509.Certificate{testCACert}}
	cases := []struct {
		file  string
		pos   Position
		image []byte
	}{
		{"invoice.pdf", BottomRight, testImage(t, false)},
		{"invoice.pdf", TopLeft, nil},
		{"invoice.pdf", TopCenter, testImage(t, true)},
		{"xref-stream.pdf", TopRight, nil},
		{"multipage.pdf", BottomLeft, nil},
		{"invoice.pdf", BottomCenter, nil},
		{"rotated-90.pdf", TopRight, testImage(t, false)},
		{"rotated-180.pdf", BottomLeft, nil},
		{"rotated-270.pdf", TopRight, nil},
	}
	for _, c := range cases {
		t.Run(c.file+"/"+string(c.pos), func(t *testing.T) {
			in := corpus(t, c.file)
			o := Options{Visible: true, Position: c.pos, Image: c.image, Reason: "Согласовано", Page: -1,
				Time: time.Date(2026, 11, 22, 13, 45, 0, 0, time.FixedZone("MSK", 3*3600))}
			out, res, err := Sign(context.Background(), in, s, o)
			if err != nil {
				t.Fatal(err)
			}
			checkSigned(t, in, out, res, 1)
			dir := t.TempDir()
			pdf := filepath.Join(dir, "v.pdf")
			writeFile(t, pdf, out)
			text, err := run(t, pdftotext, pdf, "-")
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"Иванов Иван Иванович", "Digitally signed", "Signed 22 Nov 2026 13:45 UTC+3", "Certificate 3EB", "Issued by Signet Test CA", "Reason:", "Согласовано"} {
				if !strings.Contains(text, want) {
					t.Errorf("pdftotext lacks %q:\n%s", want, text)
				}
			}
			if keep := os.Getenv("SIGNET_KEEP_PNG"); keep != "" {
				name := strings.NewReplacer(".pdf", "", "/", "-").Replace(c.file + "-" + string(c.pos))
				run(t, "pdftoppm", "-png", "-r", "60", "-l", "1", pdf, filepath.Join(keep, name))
			}
		})
	}
}
