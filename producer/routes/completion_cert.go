package routes

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/font"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"

	"github.com/signet-b24/signet/internal/fonts"
	"github.com/signet-b24/signet/internal/qrcode"
)

// The certificate of completion of a route (issue 20, must 5) is a PDF of its own, made here and
// sealed by the company's seal like the final revision.
//
// Why not a page of the signed document: worker/evidence draws its page with pdfcpu, which rewrites
// the whole file and would break every party's signature, and pades has no incremental writer for
// a new page (an appended page is also a change that PAdES validators and DocMDP treat as a
// modification of the signed pages' document). So the final revision is the last party's revision
// plus the seal (an incremental update, every earlier signature intact), and the seal's reason
// names this certificate's SHA-256: the two bind each other, and each verifies on its own.

// certFont is how pdfcpu knows the embedded font (DejaVu Sans: Latin and Cyrillic names).
const certFont = "DejaVuSans"

var (
	certSetupOnce sync.Once
	certSetupErr  error
)

// certSetup installs the font into a private directory once per process (pdfcpu reads user fonts
// from a directory). worker/evidence does the same in a worker process; both install the same font.
func certSetup() error {
	certSetupOnce.Do(func() {
		api.DisableConfigDir()
		if ok, _ := font.SupportedFont(certFont); font.UserFontDir == "" || !ok {
			dir, err := os.MkdirTemp("", "signet-route-fonts-")
			if err != nil {
				certSetupErr = err
				return
			}
			font.UserFontDir = dir
			if err := font.InstallFontFromBytesQuiet(dir, certFont, fonts.DejaVuSans); err != nil {
				certSetupErr = err
				return
			}
			certSetupErr = font.ReloadUserFonts()
		}
	})
	return certSetupErr
}

// certLinesPerPage: 10-point lines, about 17 points each, below the header of an A4 page.
const certLinesPerPage = 38

// Certificate renders the certificate of completion of route r: every party, its step, state,
// time (in the route's zone), channel and certificate, the SHA-256 of the original and of the
// revision the seal signs, and a QR code to verifyURL.
func Certificate(r *Route, verifyURL string) ([]byte, error) {
	if err := certSetup(); err != nil {
		return nil, fmt.Errorf("the certificate's font: %w", err)
	}
	l := (&Engine{}).lang(r)
	zone := time.UTC
	if z, err := time.LoadLocation(r.TimeZone); err == nil && r.TimeZone != "" {
		zone = z
	}
	head := []string{
		l.T("route.completion.route") + ": " + r.ID + " · " + r.title(),
		l.T("evidence.file") + ": " + r.Document.FileName,
		l.T("evidence.original") + ": " + r.Document.SHA256,
		l.T("route.completion.final") + ": " + r.RevisionSHA256,
		l.T("evidence.verification") + ": " + verifyURL,
	}
	var body []string
	body = append(body, l.T("route.completion.parties")+":")
	for i, st := range r.Steps {
		for _, p := range st.Parties {
			at := ""
			if !p.At.IsZero() {
				at = l.DateTime(p.At.In(zone))
			}
			from := p.From
			if from == "" {
				from = "-"
			}
			line := l.T("route.completion.party", i+1, string(st.Action), p.Who(), l.T("routes.party."+string(p.State)), at, from)
			body = append(body, wrapText("• "+line, 95)...)
			if p.CertSubject != "" {
				body = append(body, wrapText("    "+l.T("route.completion.cert", p.CertSubject, p.CertSerial), 95)...)
			}
		}
	}
	body = append(body, "")
	body = append(body, wrapText(l.T("route.completion.note"), 100)...)

	pages := 1 + len(body)/certLinesPerPage
	conf := model.NewDefaultConfiguration()
	conf.Cmd = model.ADDWATERMARKS
	ctx, err := api.ReadContext(bytes.NewReader(blankPDF(pages)), conf)
	if err != nil {
		return nil, fmt.Errorf("the certificate's pages: %w", err)
	}
	if err := ctx.EnsurePageCount(); err != nil {
		return nil, err
	}
	m := map[int][]*model.Watermark{}
	title, err := certText(l.T("route.completion.title"), 16, 56)
	if err != nil {
		return nil, err
	}
	hw, err := certText(strings.Join(head, "\n"), 9, 84)
	if err != nil {
		return nil, err
	}
	const qrSide, qrTop = 108, 84 + 15*5 + 8
	png, px, err := qrcode.PNG(verifyURL)
	if err != nil {
		return nil, err
	}
	qw, err := api.ImageWatermarkForReader(bytes.NewReader(png), fmt.Sprintf("pos:tl, off:56 -%d, scale:%.4f abs, rot:0", qrTop, float64(qrSide)/float64(px)), true, false, types.POINTS)
	if err != nil {
		return nil, err
	}
	m[1] = []*model.Watermark{title, hw, qw}
	for p := 0; p < pages; p++ {
		lo, hi := p*certLinesPerPage, min((p+1)*certLinesPerPage, len(body))
		if lo >= hi {
			break
		}
		top := 56
		if p == 0 {
			top = qrTop + qrSide + 16
		}
		bw, err := certText(strings.Join(body[lo:hi], "\n"), 10, top)
		if err != nil {
			return nil, err
		}
		m[p+1] = append(m[p+1], bw)
	}
	if err := pdfcpu.AddWatermarksSliceMap(ctx, m); err != nil {
		return nil, fmt.Errorf("drawing the certificate: %w", err)
	}
	var out bytes.Buffer
	if err := api.WriteContext(ctx, &out); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func certText(text string, points, top int) (*model.Watermark, error) {
	return api.TextWatermark(text, fmt.Sprintf("font:%s, points:%d, pos:tl, off:56 -%d, scale:1 abs, rot:0, fillcol:#000000, aligntext:l", certFont, points, top), true, false, types.POINTS)
}

// blankPDF is a PDF of n empty A4 pages, its cross-reference table exact.
func blankPDF(n int) []byte {
	var b bytes.Buffer
	var offs []int
	obj := func(s string) {
		offs = append(offs, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", len(offs), s)
	}
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	kids := make([]string, n)
	for i := range kids {
		kids[i] = fmt.Sprintf("%d 0 R", 3+i)
	}
	obj(fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), n))
	for range n {
		obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595.28 841.89] /Resources << >> >>")
	}
	x := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offs)+1, x)
	return b.Bytes()
}

// wrapText breaks s into lines of at most n runes, at spaces when it can.
func wrapText(s string, n int) []string {
	var out []string
	r := []rune(s)
	for len(r) > n {
		cut := n
		for i := n; i > n/2; i-- {
			if r[i] == ' ' {
				cut = i
				break
			}
		}
		out = append(out, strings.TrimRight(string(r[:cut]), " "))
		r = append([]rune("    "), []rune(strings.TrimLeft(string(r[cut:]), " "))...)
	}
	return append(out, string(r))
}
