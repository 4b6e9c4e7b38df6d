package i18ntext

import (
	"strings"
	"testing"

	"github.com/signet-b24/signet/internal/i18n"
)

// A piece is taken out only as whole words, so a short message does not hide inside a longer word;
// numbers as a language groups them, addresses and identifiers are data; a Russian page with one
// English sentence keeps that sentence.
func TestForeign(t *testing.T) {
	if got := takeOut("administrator", "to"); got != "administrator" {
		t.Errorf("takeOut inside a word: %q", got)
	}
	if got := takeOut("go to page", "to"); strings.Contains(got, "to") {
		t.Errorf("takeOut of a whole word: %q", got)
	}
	ru, en := i18n.New("ru"), i18n.New("en")
	page := []byte(`<html lang="ru"><body><h1>` + ru.T("web.users.title") + `</h1><p>` + ru.T("web.credentials.sessions", 1200, 16) +
		`</p><code>pkcs11:token=acme;object=mary-2026</code><p title="serial 3e0e6881">` + ru.T("web.verify.fileSize", 2048, "a.pdf") + `</p>` +
		`<p>` + ru.T("web.grants.none") + ` Ask the administrator.</p><script>var x = "English in a script";</script></body></html>`)
	left, err := Foreign(ru, page, "a.pdf")
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 2 || !strings.Contains(left[0], "serial") || !strings.Contains(left[1], "Ask the administrator") {
		t.Errorf("left over: %q", left)
	}
	if left, _ := Foreign(en, []byte(`<p>`+en.T("web.verify.fileSize", 3650, "a.pdf")+`</p>`), "a.pdf"); len(left) != 0 {
		t.Errorf("an English page with a grouped number: %q", left)
	}
}
