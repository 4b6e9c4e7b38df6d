package pades

// One verdict for `signet verify` (text and --json), the /verify page and the evidence check, in
// one wording, English and Russian. A signature is valid when its signed bytes are intact (digest,
// signature value, a ByteRange that signs the whole revision), nothing disallowed was changed
// after it (diff.go), and its certificate chains to a trust anchor. Intact but not trusted is its
// own verdict, as pdfsig and Acrobat have it: the document is what was signed, but by whom is only
// what the certificate claims.

import (
	"strings"

	"github.com/signet-b24/signet/internal/i18n"
)

// Verdict is the judgement of one signature or of a whole document.
type Verdict string

const (
	VerdictValid     Verdict = "valid"
	VerdictUntrusted Verdict = "untrusted" // intact and unmodified, but the signer is not trusted
	VerdictInvalid   Verdict = "invalid"
	// VerdictIndeterminate: intact, unmodified and trusted, but the revocation status of the
	// signer's chain could not be established (ETSI EN 319 102-1 INDETERMINATE/TRY_LATER).
	VerdictIndeterminate Verdict = "indeterminate"
)

// Intact reports that the signed bytes are what was signed and nothing disallowed came after.
func (i SignatureInfo) Intact() bool { return i.DigestValid && i.ByteRangeValid && !i.Modified }

// Verdict judges the signature.
func (i SignatureInfo) Verdict() Verdict {
	switch {
	case !i.Intact(), i.Revocation == RevocationRevoked:
		return VerdictInvalid
	case !i.ChainTrusted:
		return VerdictUntrusted
	case i.Revocation == RevocationUnknown, i.Revocation == RevocationUnavailable:
		return VerdictIndeterminate
	}
	return VerdictValid
}

// Reason says in one line why the signature has its verdict, in English.
func (i SignatureInfo) Reason() string { return i.reason().String() }

// ReasonIn is Reason in l's language.
func (i SignatureInfo) ReasonIn(l *i18n.Localizer) string { return i.reason().In(l) }

func (i SignatureInfo) reason() Text {
	switch i.Verdict() {
	case VerdictValid:
		return say("reason.valid", "intact, unchanged since signing, signer trusted")
	case VerdictUntrusted:
		return say("reason.untrusted", "intact but signer not trusted")
	case VerdictIndeterminate:
		status := say("revocation.unavailable", "unavailable")
		if i.Revocation == RevocationUnknown {
			status = say("revocation.unknown", "unknown")
		}
		return say("reason.indeterminate", "intact, signer trusted, but the certificate's revocation status is %[1]s", status)
	}
	problems := i.problemTexts()
	if i.Revocation == RevocationRevoked {
		for _, p := range problems {
			if code(p) == "problem.revoked" || p.Key() == "" && strings.Contains(p.String(), " was revoked on ") {
				return p
			}
		}
	}
	if i.Modified {
		var what []Text
		for _, c := range i.Changes {
			if !c.Allowed {
				what = append(what, c.text())
			}
		}
		return say("problem.modified", "modified after signing: %[1]s", what)
	}
	if len(problems) > 0 {
		return problems[0]
	}
	return say("reason.invalid", "the signature does not verify")
}

// Summary is the verdict of a document: the worst of its signatures'.
func Summary(infos []SignatureInfo) Verdict {
	if len(infos) == 0 {
		return VerdictInvalid
	}
	v := VerdictValid
	for _, i := range infos {
		switch i.Verdict() {
		case VerdictInvalid:
			return VerdictInvalid
		case VerdictUntrusted:
			v = VerdictUntrusted
		case VerdictIndeterminate:
			if v == VerdictValid {
				v = VerdictIndeterminate
			}
		}
	}
	return v
}

// Headline is the verdict's headline for people, worded from the catalogue in the reader's language
// (pades.verdict.*, issue 18) by the page or the CLI that shows it.
func (v Verdict) Headline() Text {
	switch v {
	case VerdictValid:
		return i18n.Say("pades.verdict.valid", "Valid: intact, unchanged since signing, signer trusted")
	case VerdictUntrusted:
		return i18n.Say("pades.verdict.untrusted", "Intact but signer not trusted")
	case VerdictIndeterminate:
		return i18n.Say("pades.verdict.indeterminate", "Intact, signer trusted, but the certificate's revocation status could not be established")
	}
	return i18n.Say("pades.verdict.invalid", "Not valid")
}
