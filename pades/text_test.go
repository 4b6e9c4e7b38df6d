package pades

import (
	"errors"
	"testing"

	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/internal/testsupport/i18ntext"
)

// TestTextsAreInTheCatalogue: every sentence pades says (say, verbatim) has its catalogue message,
// "pades."+code, and say's English in the code is the catalogue's English, so that the English
// outputs are the same whichever is read. The codes are read from the source, so a new sentence
// without its message fails here, not on a Russian page.
func TestTextsAreInTheCatalogue(t *testing.T) {
	if n := i18ntext.CheckSource(t, "pades.", []string{"say"}, "verbatim"); n < 50 {
		t.Errorf("found %d sentences; the source is no longer read", n)
	}
}

// A signature's problems in Russian, with their codes; a SignatureInfo made without sentences (by
// hand, in a test) shows its English in every language and has no codes.
func TestProblemsIn(t *testing.T) {
	ru := i18n.New("ru")
	var info SignatureInfo
	info.addProblem(say("problem.digest", "the document bytes do not match the signed message-digest (modified after signing)"))
	info.addProblem(untrusted(errors.New("x509: certificate has expired or is not yet valid")))
	if got := info.ProblemsIn(ru); len(got) != 2 || got[0] != ru.T("pades.problem.digest") || got[1] != ru.T("pades.problem.untrusted", "x509: certificate has expired or is not yet valid") {
		t.Errorf("Russian: %q", got)
	}
	if got := info.ProblemCodes(); len(got) != 2 || got[0] != "problem.digest" || got[1] != "problem.untrusted" {
		t.Errorf("codes: %q", got)
	}
	if info.Problems[1] != "certificate not trusted: x509: certificate has expired or is not yet valid" {
		t.Errorf("English: %q", info.Problems)
	}
	byHand := SignatureInfo{Problems: []string{"made by hand"}}
	if got := byHand.ProblemsIn(ru); len(got) != 1 || got[0] != "made by hand" || byHand.ProblemCodes()[0] != "" {
		t.Errorf("problems without sentences: %q %q", got, byHand.ProblemCodes())
	}
}
