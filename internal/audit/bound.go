package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"unicode/utf8"

	"github.com/signet-b24/signet/contracts"
)

// Caps on what one audit event records. Several fields can carry a value a caller chose before it was
// authenticated (a refused robot call's member_id, a reason that quotes a property), and the trail is
// kept for years: every value is bounded here, in the one place every event passes, before it is
// hashed into the chain.
const (
	maxIDText   = 128  // ids, logins, outcomes, hashes, serials
	maxNameText = 512  // a credential's PKCS#11 URI, a certificate subject
	maxFreeText = 1024 // reason, detail
)

// InvalidPortalPrefix marks a Portal that was not a valid member_id as it came: the event records
// "invalid-member-id:sha256:" and the hex SHA-256 of the value instead, so refusals of the same value
// can still be told apart, and nothing of it is kept.
const InvalidPortalPrefix = "invalid-member-id:sha256:"

// Bound returns e with every value bounded: Portal as it validates (a Bitrix24 member_id, at most 128
// characters of [A-Za-z0-9_-]) or hashed and marked, every other text cut (on a UTF-8 boundary) and
// marked as cut.
func Bound(e contracts.AuditEvent) contracts.AuditEvent {
	if e.Portal != "" && !validMemberID(e.Portal) {
		sum := sha256.Sum256([]byte(e.Portal))
		e.Portal = InvalidPortalPrefix + hex.EncodeToString(sum[:16])
	}
	for _, f := range []*string{&e.Action, &e.Login, &e.JobID, &e.BatchID, &e.SHA256Before, &e.SHA256After, &e.CertSerial, &e.Outcome} {
		*f = cut(*f, maxIDText)
	}
	for _, f := range []*string{&e.Credential, &e.CertSubject} {
		*f = cut(*f, maxNameText)
	}
	for _, f := range []*string{&e.Reason, &e.Detail} {
		*f = cut(*f, maxFreeText)
	}
	return e
}

// validMemberID is bitrix24.ValidMemberID (audit does not import the portal client).
func validMemberID(s string) bool {
	if len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// cut keeps at most n bytes of s; a cut value ends in "…[cut: N bytes]" with its original length.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	mark := fmt.Sprintf("…[cut: %d bytes]", len(s))
	keep := n - len(mark)
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	return s[:keep] + mark
}
