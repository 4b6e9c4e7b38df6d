package producer

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/language"

	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/internal/testsupport/i18ntext"
	"github.com/signet-b24/signet/producer/bulk"
)

// The page states the portal budget in the reader's language (issue 19, must 3): 10,000 documents
// replaced at 2 requests/s are "about 83 min", with the reader's digit grouping and Russian plurals.
func TestBulkEstimateInTheReadersLanguage(t *testing.T) {
	for _, c := range []struct {
		tag  language.Tag
		n    int
		mode bulk.Mode
		want string
	}{
		{language.English, 10_000, bulk.ModeReplace, "10,000 documents: about 83 min"},
		{language.English, 1, bulk.ModeReplace, "1 document: about 1 s"},
		{language.English, 10_000, bulk.ModeLink, "10,000 documents: about 100 s"},
		{language.Russian, 10_000, bulk.ModeReplace, "10\u00a0000 документов: около 83 мин"},
		{language.Russian, 21, bulk.ModeReplace, "21 документ: около 11 с"},
		{language.Russian, 3, bulk.ModeLink, "3 документа: около 1 с"},
	} {
		l := i18n.For(c.tag)
		b := bulk.Estimate(c.n, c.mode, 2)
		got := l.T("bulk.estimate."+string(c.mode), b.Documents, groupDigits(l, b.Documents), durationWords(l, b.Duration), groupDigits(l, b.Requests))
		if !strings.HasPrefix(got, c.want) || strings.Contains(got, "%!") {
			t.Errorf("%s, %d in %s: %q, want it to start %q", c.tag, c.n, c.mode, got, c.want)
		}
	}
	for code, want := range map[string]string{"UF_CRM_SIGNET_FILES": "ufCrmSignetFiles", "UF_CRM_5_1639669411830": "ufCrm5_1639669411830",
		"UF_CRM_10_DIGIT10": "ufCrm10Digit10", "ufCrmSignetFiles": "ufCrmSignetFiles"} {
		if got := fileFieldCamel(code); got != want {
			t.Errorf("%s as crm.item.* names it: %q, want %q", code, got, want)
		}
	}
}

// Every word of the bulk page is a catalogue message of the reader's language (checked as the web
// pages are, internal/testsupport/i18ntext), and the page declares that language.
func TestBulkPageWordsAreTheCatalogues(t *testing.T) {
	pages := map[language.Tag][]byte{}
	for _, tag := range i18n.Languages() {
		l := i18n.For(tag)
		view := bulkView{Nonce: "n", Token: "t", Lang: l.Code(), Login: "mary", T: l.T,
			Credentials: []credOption{{URI: "pkcs11:token=a;object=b", Label: "Mary Smith — Acme CA — 01.11.2027", Default: true}}}
		for _, p := range Positions {
			view.Positions = append(view.Positions, bulkPosition{Code: p, Words: l.T("inbox.position." + p)})
		}
		var buf bytes.Buffer
		if err := bulkPage.Execute(&buf, view); err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(buf.Bytes(), []byte(`<html lang="`+l.Code()+`">`)) {
			t.Errorf("%s: the page does not declare its language", tag)
		}
		left, err := i18ntext.Foreign(l, buf.Bytes(), "mary", "Mary Smith — Acme CA — 01.11.2027", "C1:WON", "UF_CRM_…")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range left {
			t.Errorf("%s: not from the %s catalogue: %s", tag, tag, s)
		}
		pages[tag] = buf.Bytes()
	}
	// The check sees a page in the wrong language: the English page read as Russian.
	if left, _ := i18ntext.Foreign(i18n.For(language.Russian), pages[language.English], "mary"); len(left) == 0 {
		t.Error("the English page passed as Russian: the check reads nothing")
	}
}

// A page's session lists and signs for 30 minutes, but reads its batch's progress for 12 hours more
// (a night of documents outlasts it); a token sealed under another form key opens nothing.
func TestBulkSessionOutlivedByItsProgressOnly(t *testing.T) {
	now := time.Date(2026, 12, 3, 20, 0, 0, 0, time.UTC)
	in := &Intake{FormKey: bytes.Repeat([]byte{7}, 32), Now: func() time.Time { return now }}
	tok := in.bulkSeal("session", bulkSession{MemberID: "m", UserID: 7, Login: "mary", AuthID: "secret-auth", Expires: now.Add(-time.Hour).Unix()})
	if strings.Contains(tok, "secret-auth") {
		t.Fatal("the page token shows the viewer's AUTH_ID")
	}
	r := httptest.NewRequest("GET", BulkPath+"/status/b1", nil)
	r.Header.Set(BulkTokenHeader, tok)
	if in.bulkCaller(r, 0) != nil {
		t.Error("an expired session still lists and signs")
	}
	if s := in.bulkCaller(r, bulkStatusGrace); s == nil || s.Login != "mary" {
		t.Errorf("an hour after its session, the page cannot read its progress: %+v", s)
	}
	other := &Intake{FormKey: bytes.Repeat([]byte{8}, 32), Now: in.Now}
	if other.bulkCaller(r, bulkStatusGrace) != nil {
		t.Error("a token sealed under another form key was accepted")
	}
}
