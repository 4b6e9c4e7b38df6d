package producer

import (
	"errors"

	"github.com/signet-b24/signet/producer/identity"
)

// refusals are the errors that no retry can change: the request itself is wrong or not authorised.
// Everything else met while handling a request (a NATS or KV timeout, a leader election, a lost
// connection, identity.ErrBusy) is transient.
var refusals = []error{
	identity.ErrUserNotFound, identity.ErrUserDisabled, identity.ErrInvalidLogin,
	identity.ErrNotEnrolled, identity.ErrOTPInvalid, identity.ErrOTPReplayed, identity.ErrLockedOut, identity.ErrOTPFormat,
	identity.ErrCredentialNotMapped, identity.ErrCredentialDisabled,
	identity.ErrGrantNotFound, identity.ErrGrantExhausted, identity.ErrGrantExpired, identity.ErrGrantRevoked,
	identity.ErrGrantScope, identity.ErrGrantInvalid,
	identity.ErrNoKeys, identity.ErrKeyFormat, identity.ErrKeyUnknown, identity.ErrDecrypt,
}

// isRefusal classifies an error met at intake, once, for every path (robot call, Sign dialog): a
// refusal is answered 422 and (for a robot) told to the workflow; anything else is transient and
// answered 503 with nothing told to the workflow, so Bitrix24 or the person retries.
func isRefusal(err error) bool {
	var pe *PropertyError
	if errors.As(err, &pe) {
		return true
	}
	for _, r := range refusals {
		if errors.Is(err, r) {
			return true
		}
	}
	return false
}
