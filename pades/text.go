package pades

// The sentences pades writes about a document — a signature's problems, what a later revision
// changed, why a signature has its verdict — carry a stable code beside their English text, so that
// /verify, the document history page and `signet verify` word them in the reader's language (issue
// 18, must 3: "/verify and the document history page … the CLI's user-facing messages"). The English
// text stays what pades always wrote, byte for byte: the machine-readable outputs (SignatureInfo's
// Problems, Change.What, `signet verify --json`, the validation report) keep it, and scripts and
// other validators' comparisons read it. TestTextsAreInTheCatalogue holds every code's catalogue
// English to the code's own. The sentence itself is internal/i18n's Message, which internal/config's
// problems use too.

import (
	"crypto/x509"
	"errors"
	"strings"

	"github.com/signet-b24/signet/internal/i18n"
)

// Text is one such sentence (internal/i18n's Message), its catalogue key "pades."+code.
type Text = i18n.Message

// say is the sentence code whose English is the format en with args (i18n.Say: verbs %[n]s and
// %[n]q; strings, ints, errors, Texts, []Texts).
func say(code, en string, args ...any) Text { return i18n.Say("pades."+code, en, args...) }

// verbatim is the sentence code whose English is en as it stands (the text of an error of the
// standard library, say) and whose other languages are the catalogue's message without arguments.
func verbatim(code, en string) Text { return i18n.Verbatim("pades."+code, en) }

// plain is a sentence without a code (a problem recorded before codes, or by a test): every
// language shows its English.
func plain(en string) Text { return i18n.Plain(en) }

// code is t's code: its catalogue key without "pades.".
func code(t Text) string { return strings.TrimPrefix(t.Key(), "pades.") }

// addProblem records a problem of the signature: its English in Problems, its sentence in
// ProblemTexts.
func (i *SignatureInfo) addProblem(t Text) {
	i.Problems = append(i.Problems, t.String())
	i.ProblemTexts = append(i.ProblemTexts, t)
}

// problemTexts are the signature's problems as sentences: ProblemTexts, or, for a SignatureInfo
// made without them, Problems' English.
func (i SignatureInfo) problemTexts() []Text {
	if len(i.ProblemTexts) == len(i.Problems) {
		return i.ProblemTexts
	}
	out := make([]Text, len(i.Problems))
	for k, p := range i.Problems {
		out[k] = plain(p)
	}
	return out
}

// ProblemsIn are the signature's problems in l's language.
func (i SignatureInfo) ProblemsIn(l *i18n.Localizer) []string {
	ts := i.problemTexts()
	if len(ts) == 0 {
		return nil
	}
	out := make([]string, len(ts))
	for k, t := range ts {
		out[k] = t.In(l)
	}
	return out
}

// text is the change's sentence: Text, or What for a Change made without one.
func (c Change) text() Text {
	if c.Text.String() == "" {
		return plain(c.What)
	}
	return c.Text
}

// WhatIn is what the change did, in l's language.
func (c Change) WhatIn(l *i18n.Localizer) string { return c.text().In(l) }

// ProblemCodes are the codes of the signature's problems, in Problems' order ("" for a problem
// without one): what a program compares instead of the English text.
func (i SignatureInfo) ProblemCodes() []string {
	ts := i.problemTexts()
	if len(ts) == 0 {
		return nil
	}
	out := make([]string, len(ts))
	for k, t := range ts {
		out[k] = code(t)
	}
	return out
}

// untrusted is the problem of a certificate that does not chain to the roots: the English is what
// pades always wrote ("certificate not trusted: " and the x509 package's words); other languages say
// why in their own words when the x509 error is one people meet (an unknown issuer, an expired
// certificate) and give the x509 words otherwise.
func untrusted(err error) Text {
	var why Text
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		why = verbatim("chain.unknownAuthority", err.Error())
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		why = verbatim("chain.expired", err.Error())
	default:
		why = plain(err.Error())
	}
	return say("problem.untrusted", "certificate not trusted: %[1]s", why)
}
