package contracts

import (
	"errors"
	"strings"
	"time"
)

// ErrAlreadyRevoked: the certificate is on the list already; a revocation is final (RFC 5280 §3.3:
// Signet has no certificateHold).
var ErrAlreadyRevoked = errors.New("the certificate is already revoked")

// Revocation is one certificate of Signet's internal CA that an administrator revoked (RFC 5280
// §5.3.1, RFC 6960 §2.2): the worker refuses to sign with it, the CRL lists it and the OCSP responder
// answers "revoked" for it. Stored as one list in the credentials bucket; written by `signet admin ca
// revoke` and the admin API, read by every process that signs or answers OCSP.
type Revocation struct {
	// Serial is the certificate's serial number, lowercase hex without separators.
	Serial string `json:"serial"`
	// Issuer is the issuing CA's subject key identifier (lowercase hex), so that the CRL of one CA
	// does not list another's certificates; empty when the administrator gave only the serial, which
	// then counts for every CA (serials are 127 random bits: they do not collide).
	Issuer string `json:"issuer,omitempty"`
	// Reason is the CRLReason code (RFC 5280 §5.3.1): 0 unspecified, 1 keyCompromise, 3
	// affiliationChanged, 4 superseded, 5 cessationOfOperation, 9 privilegeWithdrawn.
	Reason    int       `json:"reason"`
	RevokedAt time.Time `json:"revoked_at"`
	// Subject is the certificate's subject when it was known, for people reading the list.
	Subject string `json:"subject,omitempty"`
}

// NormalSerial writes a serial as Revocation.Serial does: lowercase hex, no colons or spaces, no
// leading zeros.
func NormalSerial(s string) string {
	s = strings.ToLower(strings.NewReplacer(":", "", " ", "", "0x", "").Replace(strings.TrimSpace(s)))
	s = strings.TrimLeft(s, "0")
	if s == "" {
		return "0"
	}
	return s
}

// Matches reports whether r revokes the certificate with this serial (NormalSerial form) issued by
// the CA whose subject key identifier is issuer (lowercase hex).
func (r Revocation) Matches(serial, issuer string) bool {
	return r.Serial == serial && (r.Issuer == "" || issuer == "" || r.Issuer == issuer)
}
