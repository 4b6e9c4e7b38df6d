package identity

import "errors"

// Sentinel errors. Every error returned by this package wraps one of them (compare with errors.Is);
// the wrapping message names the user, link or grant concerned and says what to do.
var (
	// Users.
	ErrUserNotFound  = errors.New("no such user")
	ErrUserExists    = errors.New("user already exists")
	ErrUserDisabled  = errors.New("user is disabled")
	ErrInvalidLogin  = errors.New("invalid login")
	ErrBitrixIDTaken = errors.New("Bitrix24 user id already mapped to another user")

	// One-time passwords (RFC 6238).
	ErrNotEnrolled = errors.New("no OTP secret enrolled")
	ErrOTPInvalid  = errors.New("wrong code")
	ErrOTPReplayed = errors.New("code already used in this 30 s window")
	ErrLockedOut   = errors.New("locked out after too many wrong codes")
	ErrOTPFormat   = errors.New("code must be 6 digits")

	// Enrolment links.
	ErrEnrolmentNotFound   = errors.New("unknown enrolment link")
	ErrEnrolmentExpired    = errors.New("enrolment link has expired")
	ErrEnrolmentUsed       = errors.New("enrolment link has already been used")
	ErrEnrolmentSuperseded = errors.New("enrolment link was replaced by a newer one")
	ErrSelfEnrolForbidden  = errors.New("enrolment inside Bitrix24 is not allowed for this user")
	ErrAlreadyEnrolled     = errors.New("an authenticator is already enrolled")

	// Credentials.
	ErrCredentialNotMapped = errors.New("credential not mapped to the user")
	ErrCredentialDisabled  = errors.New("credential disabled by the administrator")

	// Batch grants.
	ErrGrantNotFound  = errors.New("no such batch grant")
	ErrGrantExhausted = errors.New("batch grant has no documents left")
	ErrGrantExpired   = errors.New("batch grant has expired")
	ErrGrantRevoked   = errors.New("batch grant was revoked")
	ErrGrantScope     = errors.New("batch grant does not cover this request")
	ErrGrantInvalid   = errors.New("invalid batch grant request")

	// Secret encryption at rest.
	ErrNoKeys     = errors.New("no secret encryption keys loaded")
	ErrKeyFormat  = errors.New("malformed secret encryption key")
	ErrKeyUnknown = errors.New("secret was encrypted with a key that is not loaded")
	ErrDecrypt    = errors.New("secret cannot be decrypted")

	// Storage contention: an atomic KV update kept losing to concurrent writers.
	ErrBusy = errors.New("too many concurrent updates")
)
