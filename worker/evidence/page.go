package evidence

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"

	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/internal/qrcode"
)

// The drawings are pdfcpu stamps (on top of the page content) described in pdfcpu's watermark
// syntax; units are points and "scale:1 abs" keeps the font size as given on any page size.

// stripe is the thin grey band at the foot of every page, in the job's language.
func stripe(f Facts) (*model.Watermark, error) {
	text := i18n.New(f.Language).T("evidence.stripe", f.DocumentID, f.VerifyURL())
	return api.TextWatermark(text, "font:"+fontName+", points:7, pos:bc, off:0 2, scale:1 abs, rot:0, fillcol:#3C3C3C, bgcol:#E4E4E4, margins:3", true, false, types.POINTS)
}

// completionPage is the certificate of completion: a title, the facts, the QR code and a note, in the
// job's language, with the time in the signer's zone and its offset (issue 18, must 3 and 4).
func completionPage(f Facts) ([]*model.Watermark, error) {
	const left = 56
	l := i18n.New(f.Language)
	zone := f.Zone
	if zone == nil {
		zone = time.UTC
	}
	title, err := api.TextWatermark(l.T("evidence.title"), fmt.Sprintf("font:%s, points:18, pos:tl, off:%d -56, scale:1 abs, rot:0, fillcol:#000000, aligntext:l", fontName, left), true, false, types.POINTS)
	if err != nil {
		return nil, err
	}
	rows := [][2]string{
		{l.T("evidence.documentId"), f.DocumentID},
		{l.T("evidence.file"), f.FileName},
		{l.T("evidence.original"), f.OriginalSHA256},
		{l.T("evidence.signer"), f.Signer},
		{l.T("evidence.certificate"), f.Certificate},
		{l.T("evidence.serial"), f.CertSerial},
		{l.T("evidence.time"), l.DateTime(f.Time.In(zone))},
		{l.T("evidence.verification"), f.VerifyURL()},
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
	qrPNG, px, err := qrcode.PNG(f.VerifyURL())
	if err != nil {
		return nil, err
	}
	qr, err := api.ImageWatermarkForReader(bytes.NewReader(qrPNG), fmt.Sprintf("pos:tl, off:%d -%d, scale:%.4f abs, rot:0", left, qrTop, float64(qrSide)/float64(px)), true, false, types.POINTS)
	if err != nil {
		return nil, err
	}
	// About 100 characters a line at 8 points fit the A4 width inside the margins, in either alphabet.
	note := strings.Join(wrap(l.T("evidence.note"), 100), "\n")
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
