package worker

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

// "Last page" with a certificate of completion is the document's own last page, not the appended
// completion page (issue 19, must 6): the signature widget is on page 1 of the one-page invoice, and
// the completion page (page 2) carries none; the job's picture (the signature and company stamp) is
// an image in the signed PDF (pdfimages); pdfsig and qpdf --check still accept it.
func TestStampOnTheDocumentsOwnLastPage(t *testing.T) {
	pdfsig := testenv.RequireTool(t, "pdfsig")
	pdfimages := testenv.RequireTool(t, "pdfimages")
	qpdf := testenv.RequireTool(t, "qpdf")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := newForgeRig(t, ctx, func(s *Signer) { s.PublicURL = "https://signet.example" })
	j := r.job("own-last-page")
	j.Stamp.Visible, j.Stamp.Evidence, j.Stamp.Page, j.Stamp.Position = true, true, "last", "bottom-right"
	pic := image.NewNRGBA(image.Rect(0, 0, 317, 97))
	for x := 0; x < 317; x++ {
		pic.Set(x, 48, color.NRGBA{0x1a, 0x2b, 0x6d, 0xff})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, pic); err != nil {
		t.Fatal(err)
	}
	j.Stamp.Image = buf.Bytes()
	pdf := r.signStored(t, j)
	pctx, err := api.ReadContextFile(pdf)
	if err != nil {
		t.Fatal(err)
	}
	if err := pctx.EnsurePageCount(); err != nil {
		t.Fatal(err)
	}
	if pctx.PageCount != 2 {
		t.Fatalf("%d pages, want the invoice and its completion page", pctx.PageCount)
	}
	widgets := func(n int) int {
		d, _, _, err := pctx.PageDict(n, false)
		if err != nil {
			t.Fatal(err)
		}
		annots, _ := pctx.DereferenceArray(d["Annots"])
		c := 0
		for _, a := range annots {
			ad, _ := pctx.DereferenceDict(a)
			if ad == nil {
				continue
			}
			if ft, ok := ad["FT"].(types.Name); ok && ft == "Sig" {
				c++
			} else if p, ok := ad["Parent"].(types.IndirectRef); ok {
				if pd, _ := pctx.DereferenceDict(p); pd != nil && pd["FT"] == types.Name("Sig") {
					c++
				}
			}
		}
		return c
	}
	if own, completion := widgets(1), widgets(2); own != 1 || completion != 0 {
		t.Errorf("signature widgets: %d on the invoice's page, %d on the completion page; want 1 and 0", own, completion)
	}
	if sig, _ := exec.Command(pdfsig, pdf).CombinedOutput(); !strings.Contains(string(sig), "Signature is Valid.") {
		t.Errorf("pdfsig:\n%s", sig)
	}
	if out, err := exec.Command(qpdf, "--check", pdf).CombinedOutput(); err != nil {
		t.Errorf("qpdf --check: %v\n%s", err, out)
	}
	// pdfimages lists images of page content and of annotation appearances; the picture is 317×97.
	out, _ := exec.Command(pdfimages, "-list", pdf).CombinedOutput()
	if !regexp.MustCompile(`(?m)^\s*\d+\s+\d+\s+image\s+317\s+97\s`).Match(out) {
		t.Errorf("the signet's picture is not in the signed PDF:\n%s", out)
	}
}

// signStored signs j through the rig (queued, signed, the workflow told) and returns the path of the
// signed PDF in the rig's storage.
func (r *forgeRig) signStored(t *testing.T, j *contracts.SignJob) string {
	t.Helper()
	r.intake.Sign(j, time.Now())
	r.publish(j)
	r.waitFor("the workflow told", func() bool { return len(r.portal.EventsSent()[j.Reply.EventToken]) == 1 })
	var pdf string
	_ = filepath.Walk(r.storeAt, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".pdf") && strings.Contains(p, j.ID) {
			pdf = p
		}
		return nil
	})
	if pdf == "" {
		t.Fatalf("no signed PDF stored; the workflow was told %v", r.portal.EventsSent()[j.Reply.EventToken])
	}
	return pdf
}
