package pades

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// textPage is a one-page A4 PDF whose content shows 11 pt text lines at x from 300 to the right
// edge, on baselines from y0 up to y1 every 14 pt.
func textPage(y0, y1 int) []byte {
	var c strings.Builder
	c.WriteString("BT /F1 11 Tf 14 TL\n")
	for y := y0; y <= y1; y += 14 {
		fmt.Fprintf(&c, "1 0 0 1 300 %d Tm (Lorem ipsum dolor sit amet, consectetur) Tj\n", y)
	}
	c.WriteString("ET\n")
	content := c.String()
	return buildPDF([]string{
		"<</Type/Catalog/Pages 2 0 R>>",
		"<</Type/Pages/Kids[3 0 R]/Count 1>>",
		"<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Contents 4 0 R/Resources<</Font<</F1 5 0 R>>>>>>",
		fmt.Sprintf("<</Length %d>>\nstream\n%s\nendstream", len(content), content),
		"<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>",
	}, "", nil)
}

// The bottom-right of the page is full of text up to y 160: the signet goes above it, still at the
// right and within the page's lower third. With text up to y 560 (no free place in the lower
// third), it stays in the corner. Either way the signature is valid (qpdf, pdfsig, openssl).
func TestSignetAvoidsThePagesContent(t *testing.T) {
	testKeys(t)
	s := rsaSigner(t)
	for _, c := range []struct {
		name      string
		top       int     // baseline of the highest text line
		wantAbove float64 // the signet's lowest y must be at least this
		wantExact bool    // the signet stays exactly in the corner
	}{
		{"free above the text", 160, 160 + 11, false},
		{"no free place in the corner", 560, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := textPage(20, c.top)
			out, res, err := Sign(context.Background(), in, s, Options{Visible: true, Position: BottomRight})
			if err != nil {
				t.Fatal(err)
			}
			checkSigned(t, in, out, res, 1)
			r := widgetRect(t, out)
			if r[2] != 595-signetMargin || r[0] != 595-signetMargin-signetWidth {
				t.Errorf("the signet left the right edge: %v", r)
			}
			if c.wantExact {
				if r[1] != signetMargin {
					t.Errorf("no free place: the signet must stay in the corner, got %v", r)
				}
				return
			}
			if r[1] < c.wantAbove || r[3] > 842.0/3 {
				t.Errorf("the signet at %v covers the text (up to y %v) or left the lower third", r, c.wantAbove)
			}
		})
	}
}

// The geometry read from content: text through Tm and cm, a path, a background, an image.
func TestInkOfContent(t *testing.T) {
	ink := inkOf([]byte("q 2 0 0 2 10 10 cm BT /F1 10 Tf 5 5 Td (abcd) Tj ET Q 0 0 600 900 re f 100 100 m 200 150 l S q 50 0 0 20 300 300 cm /Im0 Do Q"), nil, 595*842)
	if len(ink) != 3 {
		t.Fatalf("%d boxes, want text, line and image (the page-sized fill is a background): %v", len(ink), ink)
	}
	text := ink[0]
	if text.x1 != 20 || text.x2 != 20+2*0.6*4*10 || text.y2 != 20+2*10 {
		t.Errorf("text box %v", text)
	}
	if ink[1] != (box{100, 100, 200, 150}) || ink[2] != (box{300, 300, 350, 320}) {
		t.Errorf("path and image boxes: %v", ink[1:])
	}
}
