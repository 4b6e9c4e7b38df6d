package worker

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

// A job carries its language and time zone from the intake to what the worker draws (issue 18, must
// 3): the stamp, the Document-ID stripe and the certificate of completion of the signed PDF are
// Russian, with the time in the signer's zone and its offset; the signature stays valid.
func TestSignedDocumentInTheJobsLanguageAndZone(t *testing.T) {
	pdftotext := testenv.RequireTool(t, "pdftotext")
	pdfsig := testenv.RequireTool(t, "pdfsig")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := newForgeRig(t, ctx, func(s *Signer) { s.PublicURL = "https://signet.example" })
	j := r.job("ru-yekaterinburg")
	j.Language, j.TimeZone = "ru", "Asia/Yekaterinburg"
	j.Stamp.Visible, j.Stamp.Evidence, j.Stamp.Page = true, true, "first"
	pdf := r.signStored(t, j)
	out, err := exec.Command(pdftotext, pdf, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{"Документ подписан электронной подписью", "(UTC+05:00)", "Лист удостоверения подписания",
		"Документ Signet " + j.ID, "Действителен с "} {
		if !strings.Contains(text, want) {
			t.Errorf("the signed PDF lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "Digitally signed") || strings.Contains(text, "Certificate of completion") {
		t.Errorf("English on a Russian job's document:\n%s", text)
	}
	if sig, _ := exec.Command(pdfsig, pdf).CombinedOutput(); !strings.Contains(string(sig), "Signature is Valid.") {
		t.Errorf("pdfsig:\n%s", sig)
	}
}
