package pades

import (
	"strings"
	"testing"

	"github.com/signet-b24/signet/internal/i18n"
)

// Every verdict, VerdictIndeterminate included, from the facts that make it; a document's summary
// is its worst signature's (invalid, then untrusted, then indeterminate); each has its own
// headline in both languages and a reason that says why.
func TestVerdictsAndSummary(t *testing.T) {
	intact := SignatureInfo{DigestValid: true, ByteRangeValid: true, ChainTrusted: true}
	with := func(f func(*SignatureInfo)) SignatureInfo { i := intact; f(&i); return i }
	valid := intact
	untrusted := with(func(i *SignatureInfo) { i.ChainTrusted = false })
	unavailable := with(func(i *SignatureInfo) { i.Revocation = RevocationUnavailable })
	unknown := with(func(i *SignatureInfo) { i.Revocation = RevocationUnknown })
	revoked := with(func(i *SignatureInfo) { i.Revocation = RevocationRevoked })
	modified := with(func(i *SignatureInfo) { i.Modified = true })
	untrustedUnavailable := with(func(i *SignatureInfo) { i.ChainTrusted, i.Revocation = false, RevocationUnavailable })
	for name, c := range map[string]struct {
		in   SignatureInfo
		want Verdict
	}{
		"valid": {valid, VerdictValid}, "untrusted": {untrusted, VerdictUntrusted},
		"revocation unavailable": {unavailable, VerdictIndeterminate}, "revocation unknown": {unknown, VerdictIndeterminate},
		"revoked": {revoked, VerdictInvalid}, "modified": {modified, VerdictInvalid},
		"untrusted and unavailable": {untrustedUnavailable, VerdictUntrusted},
	} {
		if got := c.in.Verdict(); got != c.want {
			t.Errorf("%s: verdict %s, want %s", name, got, c.want)
		}
	}
	if r := unavailable.Reason(); !strings.Contains(r, "revocation status is unavailable") {
		t.Errorf("indeterminate reason: %q", r)
	}
	for _, c := range []struct {
		infos []SignatureInfo
		want  Verdict
	}{
		{[]SignatureInfo{valid, unavailable}, VerdictIndeterminate},
		{[]SignatureInfo{unavailable, valid}, VerdictIndeterminate},
		{[]SignatureInfo{unavailable, untrusted}, VerdictUntrusted},
		{[]SignatureInfo{untrusted, unknown}, VerdictUntrusted},
		{[]SignatureInfo{unavailable, revoked}, VerdictInvalid},
		{[]SignatureInfo{valid, valid}, VerdictValid},
		{nil, VerdictInvalid},
	} {
		if got := Summary(c.infos); got != c.want {
			t.Errorf("summary of %d signatures: %s, want %s", len(c.infos), got, c.want)
		}
	}
	seen := map[string]Verdict{}
	for _, v := range []Verdict{VerdictValid, VerdictUntrusted, VerdictIndeterminate, VerdictInvalid} {
		for _, lang := range []string{"en", "ru"} {
			w := v.Headline().In(i18n.New(lang))
			if prev, dup := seen[w]; dup {
				t.Errorf("%s and %s share the %s headline %q", prev, v, lang, w)
			}
			seen[w] = v
		}
	}
}
