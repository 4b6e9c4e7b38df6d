package producer

import (
	"errors"
	"fmt"

	"github.com/signet-b24/signet/contracts"
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

// sentinelKeys are the catalogue words of the identity service's refusals, and their kind for the
// workflow; each takes the signer (login, or user_<id> before the login is known).
var sentinelKeys = []struct {
	err  error
	key  string
	kind contracts.FailureKind
}{
	{identity.ErrUserNotFound, "refusal.userNotFound", contracts.FailureUnknownSigner},
	{identity.ErrUserDisabled, "refusal.userDisabled", contracts.FailureSignerDisabled},
	{identity.ErrNotEnrolled, "refusal.notEnrolled", contracts.FailureNotEnrolled},
	{identity.ErrOTPInvalid, "refusal.otpInvalid", contracts.FailureWrongCode},
	{identity.ErrOTPReplayed, "refusal.otpReplayed", contracts.FailureCodeReused},
	{identity.ErrOTPFormat, "refusal.otpFormat", contracts.FailureCodeFormat},
	{identity.ErrLockedOut, "refusal.lockedOut", contracts.FailureLockedOut},
	{identity.ErrCredentialNotMapped, "refusal.credentialNotMapped", contracts.FailureCredentialNotMapped},
	{identity.ErrCredentialDisabled, "refusal.credentialDisabled", contracts.FailureCredentialDisabled},
}

// keyKinds are the kinds of the refusals made with a key of their own (PropertyError, refusal) whose
// kind is not the property's or the sentinel's they stand for.
var keyKinds = map[string]contracts.FailureKind{
	"refusal.document.outside":       contracts.FailureURLOutsidePortal,
	"refusal.credential.unknown":     contracts.FailureCredentialUnknown,
	"refusal.credential.otherPortal": contracts.FailureCredentialNotMapped,
	"refusal.robotCode":              contracts.FailureWrongRobot,
}

// refusalFailure is a refusal as the callback carries it to the worker (issue 18, must 3): its kind,
// which the workflow's documentation lists (docs/bitrix24.md), and its catalogue words, which the
// callback worker puts in the portal's language like its own failures. An error the catalogue has
// no words for is FailureOther.
func refusalFailure(err error, signer string) *contracts.Failure {
	f := &contracts.Failure{Kind: contracts.FailureOther, Signer: signer}
	var pe *PropertyError
	var r *refusal
	switch {
	case errors.As(err, &pe):
		f.Kind, f.Property, f.Reason, f.Args = contracts.FailureInvalidProperty, pe.Property, pe.Key, texts(pe.Args)
	case errors.As(err, &r):
		f.Reason, f.Args = r.key, texts(r.args)
		for _, s := range sentinelKeys {
			if errors.Is(r.err, s.err) {
				f.Kind = s.kind
			}
		}
	default:
		for _, s := range sentinelKeys {
			if errors.Is(err, s.err) {
				f.Kind, f.Reason, f.Args = s.kind, s.key, []string{signer}
				return f
			}
		}
	}
	if k, ok := keyKinds[f.Reason]; ok {
		f.Kind = k
	}
	return f
}

func texts(args []any) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = fmt.Sprint(a)
	}
	return out
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
