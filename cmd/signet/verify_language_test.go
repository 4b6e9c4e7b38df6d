package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/internal/testsupport/i18ntext"
	"github.com/signet-b24/signet/worker/evidence"
)

// `signet verify` on broken PDFs, in English (LANG=C, byte for byte what it printed before the
// problems had codes) and in Russian (issue 18, must 3): a document whose evidence was relabelled
// after signing, one whose signed bytes were changed, and one whose signer nobody here trusts. The
// Russian output words pades' problems and changes from the catalogue and holds none of the English
// catalogue's pades sentences.
func TestVerifyBrokenGolden(t *testing.T) {
	t.Setenv("SIGNET_CONFIG", "")
	t.Setenv("LC_ALL", "")
	t.Setenv("LC_MESSAGES", "")
	t.Setenv("LANG", "C")
	relabelled, caPEM := selfProvingSigned(t)
	f, err := evidence.Read(relabelled)
	if err != nil {
		t.Fatal(err)
	}
	appendInfo(t, relabelled, fmt.Sprintf("<</SignetDocumentID (%s)/SignetOriginalSHA256 (%s)/SignetSigner (Eve Forger \\(eve\\))/SignetCertificate (%s)/SignetCertificateSerial (%s)/SignetTime (%s)/SignetVerifyURL (%s)>>",
		f.DocumentID, f.OriginalSHA256, f.Certificate, f.CertSerial, f.Time.Format(time.RFC3339), f.VerifyURL()))
	genuine, _ := selfProvingSigned(t)
	doc, err := os.ReadFile(genuine)
	if err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(t.TempDir(), "tampered.pdf")
	if i := strings.Index(string(doc), "Invoice"); i < 0 {
		t.Fatal("the invoice has no text to tamper with")
	} else {
		doc[i+4] = 'y'
	}
	if err := os.WriteFile(tampered, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	notPDF := filepath.Join(filepath.Dir(tampered), "notes.pdf")
	if err := os.WriteFile(notPDF, []byte("meeting notes, not a PDF\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dirs := []string{filepath.Dir(relabelled), filepath.Dir(caPEM), filepath.Dir(genuine), filepath.Dir(tampered)}
	// The signed revision's length varies with the evidence time's digits and the CMS's size.
	byteRange := regexp.MustCompile(`byterange=\[[0-9 ]+\]`)
	run := func() string {
		return byteRange.ReplaceAllString(transcript(dirs, nil, []string{"verify", relabelled, "--trust", caPEM},
			[]string{"verify", tampered, "--trust", caPEM}, []string{"verify", genuine}, []string{"verify", notPDF}), "byterange=[RANGE]")
	}
	en := run()
	golden(t, "verify_broken", en)
	ru := inRussian(run)
	golden(t, "verify_broken.ru", ru)
	for _, want := range []string{"evidence /SignetSigner changed after signing (NOT ALLOWED)", "certificate not trusted: x509: certificate signed by unknown authority",
		"the document bytes do not match the signed message-digest"} {
		if !strings.Contains(en, want) {
			t.Errorf("the English output lacks %q:\n%s", want, en)
		}
	}
	l := i18n.New("ru")
	for _, want := range []string{l.T("pades.problem.digest"), l.T("pades.chain.unknownAuthority"), l.T("pades.change.evidence", "SignetSigner", l.T("pades.word.changed")),
		l.T("cli.verify.err.notPDF", "$TMP/notes.pdf")} {
		if !strings.Contains(ru, want) {
			t.Errorf("the Russian output lacks %q:\n%s", want, ru)
		}
	}
	frags := i18ntext.Sentences(i18n.Fallback, "pades.", 2)
	if len(frags) < 50 {
		t.Fatalf("only %d English pades sentences: the catalogue was not read", len(frags))
	}
	for _, frag := range frags {
		if strings.Contains(ru, frag) {
			t.Errorf("English in the Russian output: %q\n%s", frag, ru)
		}
	}
}
