package pades

import (
	"bufio"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"html"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

// TestVisibleInSignersLanguageAndZone is issue 18's stamp test (must 5): the signet is drawn in the
// job's language with the time in the signer's zone, rendered with pdftoppm and read back with
// pdftotext; every word lies inside the signet's frame (nothing clipped, Russian being the longest);
// /M stays UTC; qpdf, pdfsig and openssl still accept the signature.
func TestVisibleInSignersLanguageAndZone(t *testing.T) {
	testKeys(t)
	pdftotext := testenv.RequireTool(t, "pdftotext")
	pdftoppm := testenv.RequireTool(t, "pdftoppm")
	now := time.Now().UTC()
	notBefore, notAfter := now.Add(-48*time.Hour).Truncate(time.Hour), now.Add(365*24*time.Hour).Truncate(time.Hour)
	cert := mustCert(t, &x509.Certificate{SerialNumber: big.NewInt(0x3EB), Subject: pkix.Name{CommonName: "Константинопольская Александра Вячеславовна", Organization: []string{"ACME Trading"}},
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment},
		testCACert, testRSAKey.Public(), testCAKey)
	s := Signer{Key: testRSAKey, Certificate: cert, Chain: []*x509.Certificate{testCACert}}
	signedAt := time.Date(2026, 12, 2, 11, 5, 30, 0, time.UTC)
	cases := []struct {
		lang, zone string
		pos        Position
		image      bool
		want       []string
		dateLayout string
	}{
		{"ru", "Europe/Moscow", BottomRight, false, []string{"Документ подписан электронной подписью", "Подписан 02.12.2026 14:05 (UTC+03:00)",
			"Сертификат 3EB", "Выдан: Signet Test CA", "Основание: Согласовано с контрагентом"}, "02.01.2006"},
		{"ru", "Asia/Yekaterinburg", TopLeft, true, []string{"Документ подписан электронной подписью", "Подписан 02.12.2026 16:05 (UTC+05:00)"}, "02.01.2006"},
		{"en", "", BottomCenter, true, []string{"Digitally signed", "Signed 2 Dec 2026 11:05 UTC", "Certificate 3EB", "Issued by Signet Test CA",
			"Reason: Согласовано с контрагентом"}, "2 Jan 2006"},
		{"en", "Asia/Yekaterinburg", TopRight, false, []string{"Signed 2 Dec 2026 16:05 UTC+5"}, "2 Jan 2006"},
	}
	for _, c := range cases {
		t.Run(c.lang+"/"+strings.ReplaceAll(c.zone, "/", "-"), func(t *testing.T) {
			zone, err := i18n.LoadZone(c.zone)
			if err != nil {
				t.Fatal(err)
			}
			o := Options{Visible: true, Position: c.pos, Reason: "Согласовано с контрагентом", Time: signedAt, Language: c.lang, Zone: zone}
			if c.image {
				o.Image = testImage(t, false)
			}
			in := corpus(t, "invoice.pdf")
			out, res, err := Sign(context.Background(), in, s, o)
			if err != nil {
				t.Fatal(err)
			}
			checkSigned(t, in, out, res, 1)
			if !strings.Contains(string(out[len(in):]), "/M (D:20261202110530Z)") {
				t.Error("/M is not the UTC signing time")
			}
			dir := t.TempDir()
			pdf := filepath.Join(dir, "v.pdf")
			writeFile(t, pdf, out)
			// Rendered as a reader sees it, then read back from the rendering's source.
			if o, err := run(t, pdftoppm, "-png", "-r", "150", "-l", "1", pdf, filepath.Join(dir, "page")); err != nil {
				t.Fatalf("pdftoppm: %v\n%s", err, o)
			}
			text, err := run(t, pdftotext, "-raw", pdf, "-")
			if err != nil {
				t.Fatal(err)
			}
			validity := []string{"Действителен с " + notBefore.In(zone).Format(c.dateLayout) + " по " + notAfter.In(zone).Format(c.dateLayout)}
			if c.lang == "en" {
				validity = []string{"Valid from " + notBefore.In(zone).Format(c.dateLayout) + " to " + notAfter.In(zone).Format(c.dateLayout)}
			}
			for _, want := range append(append(c.want, validity...), "Константинопольская Александра Вячеславовна") {
				if !strings.Contains(text, want) {
					t.Errorf("pdftotext lacks %q:\n%s", want, text)
				}
			}
			if c.lang == "ru" && strings.Contains(text, "Digitally") {
				t.Errorf("English words on a Russian stamp:\n%s", text)
			}
			checkInsideFrame(t, pdftotext, pdf, res, out, signetLines(s, o, signedAt))
			if keep := os.Getenv("SIGNET_KEEP_PNG"); keep != "" {
				b, _ := os.ReadFile(filepath.Join(dir, "page-1.png"))
				os.WriteFile(filepath.Join(keep, "stamp-"+c.lang+"-"+strings.ReplaceAll(c.zone, "/", "-")+".png"), b, 0o644)
			}
		})
	}
}

// checkInsideFrame reads every word's box with pdftotext -bbox and checks that the words drawn in the
// signet's widget end inside its /Rect: a label wider than the frame would be cut by the form's BBox.
func checkInsideFrame(t *testing.T, pdftotext, pdf string, res *Result, out []byte, lines []string) {
	t.Helper()
	ours := map[string]bool{} // the signet's words; the page's own text may run under the signet
	for _, l := range lines {
		for _, w := range strings.Fields(l) {
			ours[w] = true
		}
	}
	rect := widgetRect(t, out[res.ByteRange[1]:])
	bbox, err := run(t, pdftotext, "-bbox", "-f", "1", "-l", "1", pdf, "-")
	if err != nil {
		t.Fatal(err)
	}
	page := regexp.MustCompile(`<page width="([\d.]+)" height="([\d.]+)"`).FindStringSubmatch(bbox)
	if page == nil {
		t.Fatalf("pdftotext -bbox: no page:\n%s", bbox)
	}
	ph, _ := strconv.ParseFloat(page[2], 64)
	word := regexp.MustCompile(`<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>`)
	inside := 0
	sc := bufio.NewScanner(strings.NewReader(bbox))
	for sc.Scan() {
		m := word.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		var b [4]float64
		for i := range b {
			b[i], _ = strconv.ParseFloat(m[i+1], 64)
		}
		// Words whose middle is in the frame belong to the signet; they must end inside it.
		mx, my := (b[0]+b[2])/2, ph-(b[1]+b[3])/2
		if mx < rect[0] || mx > rect[2] || my < rect[1] || my > rect[3] || !ours[html.UnescapeString(m[5])] {
			continue
		}
		inside++
		if b[0] < rect[0]-0.5 || b[2] > rect[2]+0.5 || ph-b[3] < rect[1]-0.5 || ph-b[1] > rect[3]+0.5 {
			t.Errorf("word %s at x %.1f–%.1f, y %.1f–%.1f leaves the signet %v", sc.Text(), b[0], b[2], ph-b[3], ph-b[1], rect)
		}
	}
	if inside < 10 {
		t.Errorf("only %d words inside the signet %v", inside, rect)
	}
}

// widgetRect is the /Rect of the (one) widget the update wrote.
func widgetRect(t *testing.T, update []byte) [4]float64 {
	t.Helper()
	m := regexp.MustCompile(`/Rect\s*\[\s*([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s*\]`).FindSubmatch(update)
	if m == nil {
		t.Fatal("no /Rect in the update")
	}
	var r [4]float64
	for i := range r {
		r[i], _ = strconv.ParseFloat(string(m[i+1]), 64)
	}
	return r
}

// Russian is the longest language of the catalogue: its lines fit the frame at a legible size,
// with and without an image, and a name too long for any size is cut with "…" rather than clipped.
func TestSignetLayoutFitsRussian(t *testing.T) {
	testKeys(t)
	s := Signer{Key: testRSAKey, Certificate: testCyrCert}
	when := time.Date(2026, 12, 2, 11, 5, 0, 0, time.UTC)
	zone, _ := i18n.LoadZone("Europe/Moscow")
	for _, textX := range []float64{6, imageWidth + 8} {
		o := Options{Language: "ru", Zone: zone, Reason: "Согласовано"}
		lines := signetLines(s, o, when)
		fs, err := signetSubset(lines)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range layoutSignet(fs, lines, signetWidth, signetHeight, textX) {
			_, wu := fs.encode(l.text)
			if w := float64(wu) / 1000 * l.size; w > signetWidth-textX-5+0.01 {
				t.Errorf("textX %v: %q is %.1f pt wide, the frame leaves %.1f", textX, l.text, w, signetWidth-textX-5)
			}
			if l.size < 6 || strings.HasSuffix(l.text, "…") {
				t.Errorf("textX %v: %q drawn at %.2f pt (cut: %v); Russian must fit legibly", textX, l.text, l.size, strings.HasSuffix(l.text, "…"))
			}
		}
		o.Name = strings.Repeat("Очень длинное имя ", 12)
		lines = signetLines(s, o, when)
		fs, _ = signetSubset(lines)
		got := layoutSignet(fs, lines, signetWidth, signetHeight, textX)[1]
		if !strings.HasSuffix(got.text, "…") || got.size != minTextSize {
			t.Errorf("an over-long name: %q at %.2f pt, want it cut with … at %v pt", got.text, got.size, minTextSize)
		}
	}
}
