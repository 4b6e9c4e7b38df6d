package evidence

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// The drawings are pdfcpu stamps (on top of the page content) described in pdfcpu's watermark
// syntax; units are points and "scale:1 abs" keeps the font size as given on any page size.

// stripe is the thin grey band at the foot of every page.
func stripe(f Facts) (*model.Watermark, error) {
	text := fmt.Sprintf("Signet document %s · verify: %s", f.DocumentID, f.VerifyURL())
	return api.TextWatermark(text, "font:"+fontName+", points:7, pos:bc, off:0 2, scale:1 abs, rot:0, fillcol:#3C3C3C, bgcol:#E4E4E4, margins:3", true, false, types.POINTS)
}

// completionPage is the certificate of completion: a title, the facts, the QR code and a note.
func completionPage(f Facts) ([]*model.Watermark, error) {
	const left = 56
	title, err := api.TextWatermark("Certificate of completion", fmt.Sprintf("font:%s, points:18, pos:tl, off:%d -56, scale:1 abs, rot:0, fillcol:#000000, aligntext:l", fontName, left), true, false, types.POINTS)
	if err != nil {
		return nil, err
	}
	rows := [][2]string{
		{"Document id", f.DocumentID},
		{"File", f.FileName},
		{"SHA-256 of the original", f.OriginalSHA256},
		{"Signer", f.Signer},
		{"Certificate", f.Certificate},
		{"Certificate serial", f.CertSerial},
		{"Time", f.Time.UTC().Format("2006-01-02 15:04:05") + " UTC"},
		{"Verification", f.VerifyURL()},
	}
	var lines []string
	for _, r := range rows {
		if r[1] == "" {
			continue
		}
		lines = append(lines, r[0]+":")
		for _, l := range wrap(r[1], 80) {
			lines = append(lines, "    "+l)
		}
	}
	body, err := api.TextWatermark(strings.Join(lines, "\n"), fmt.Sprintf("font:%s, points:10, pos:tl, off:%d -96, scale:1 abs, rot:0, fillcol:#000000, aligntext:l", fontName, left), true, false, types.POINTS)
	if err != nil {
		return nil, err
	}
	// pdfcpu sets 10-point text about 17 points a line; the QR code, qrSide points wide, goes under it.
	const qrSide = 108
	qrTop := 96 + 17*len(lines) + 12
	qrPNG, px, err := qrCode(f.VerifyURL())
	if err != nil {
		return nil, err
	}
	qr, err := api.ImageWatermarkForReader(bytes.NewReader(qrPNG), fmt.Sprintf("pos:tl, off:%d -%d, scale:%.4f abs, rot:0", left, qrTop, float64(qrSide)/float64(px)), true, false, types.POINTS)
	if err != nil {
		return nil, err
	}
	note := strings.Join([]string{
		"Signet added this page and the grey stripe on every page before the document was signed,",
		"so the digital signature covers them. Scan the code or open the verification address to see",
		"what Signet recorded for this document; any change to the file after signing invalidates the signature.",
	}, "\n")
	noteTop := qrTop + qrSide + 16
	nw, err := api.TextWatermark(note, fmt.Sprintf("font:%s, points:8, pos:tl, off:%d -%d, scale:1 abs, rot:0, fillcol:#505050, aligntext:l", fontName, left, noteTop), true, false, types.POINTS)
	if err != nil {
		return nil, err
	}
	return []*model.Watermark{title, body, qr, nw}, nil
}

// wrap breaks s into lines of at most n runes, at spaces or commas when it can.
func wrap(s string, n int) []string {
	var out []string
	r := []rune(s)
	for len(r) > n {
		cut := n
		for i := n; i > n/2; i-- {
			if r[i] == ' ' || r[i-1] == ',' {
				cut = i
				break
			}
		}
		out = append(out, strings.TrimSpace(string(r[:cut])))
		r = r[cut:]
	}
	return append(out, strings.TrimSpace(string(r)))
}
