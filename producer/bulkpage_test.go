package producer

import (
	"strings"
	"testing"

	"golang.org/x/text/language"

	"github.com/signet-b24/signet/internal/i18n"
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
	if got := fileFieldCamel("UF_CRM_SIGNET_FILES"); got != "ufCrmSignetFiles" {
		t.Errorf("UF_CRM_SIGNET_FILES as crm.item.* names it: %q", got)
	}
}
