package producer

import (
	"errors"

	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/producer/identity"
)

// A robot call the intake refuses ends in a message to its workflow (bizproc.event.send errorText and
// the workflow log), in the portal's language (issue 18, must 3): every refusal is a catalogue key
// (refusal.*) with its arguments, so English is the same catalogue's words, and the audit log and the
// operator's log keep the English.

// PropertyError says which robot property is wrong and how to fix it: Key is a refusal.* message.
type PropertyError struct {
	Property string
	Key      string
	Args     []any
}

func (e *PropertyError) Error() string { return e.In(i18n.For(i18n.Fallback)) }

// In is the error in language l.
func (e *PropertyError) In(l *i18n.Localizer) string {
	return l.T("refusal.property", e.Property, l.T(e.Key, e.Args...))
}

// refusal is a refusal in catalogue words that stands for err (an identity sentinel, so that
// isRefusal and errors.Is still see it).
type refusal struct {
	key  string
	args []any
	err  error
}

func (r *refusal) Error() string { return i18n.For(i18n.Fallback).T(r.key, r.args...) }
func (r *refusal) Unwrap() error { return r.err }

// sentinelKeys are the catalogue words of the identity service's refusals; each takes the signer
// (login, or user_<id> before the login is known).
var sentinelKeys = []struct {
	err error
	key string
}{
	{identity.ErrUserNotFound, "refusal.userNotFound"},
	{identity.ErrUserDisabled, "refusal.userDisabled"},
	{identity.ErrNotEnrolled, "refusal.notEnrolled"},
	{identity.ErrOTPInvalid, "refusal.otpInvalid"},
	{identity.ErrOTPReplayed, "refusal.otpReplayed"},
	{identity.ErrOTPFormat, "refusal.otpFormat"},
	{identity.ErrLockedOut, "refusal.lockedOut"},
	{identity.ErrCredentialNotMapped, "refusal.credentialNotMapped"},
	{identity.ErrCredentialDisabled, "refusal.credentialDisabled"},
}

// refusalIn is what a refused request's workflow is told, in language l; signer names the signer.
// An error the catalogue has no words for (a server-side refusal such as an unreadable secret) is
// told as it is.
func refusalIn(l *i18n.Localizer, err error, signer string) string {
	var pe *PropertyError
	if errors.As(err, &pe) {
		return pe.In(l)
	}
	var r *refusal
	if errors.As(err, &r) {
		return l.T(r.key, r.args...)
	}
	for _, s := range sentinelKeys {
		if errors.Is(err, s.err) {
			return l.T(s.key, signer)
		}
	}
	return err.Error()
}
