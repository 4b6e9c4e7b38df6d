// Package reasons words why a job ended unsigned (a contracts.Failure) in a reader's language: the
// workflow's errorText and outcomeReason, the requester's notification (the callback worker), and the
// Sign dialog's and the bulk page's status (the intake), so the two sides of the queue say the same
// thing the same way (issue 18, must 3). The English error stays the operator's: the log, DEAD and the
// audit reason.
package reasons

import (
	"strings"
	"time"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/i18n"
)

// Text is why a job ended unsigned, in language l. f is its kind with its facts; english is the error
// as the worker or the intake wrote it; jobID names it for an administrator; timeZone (an IANA name)
// is the zone an expiry's deadline is told in. A job without a kind (queued by an older Signet), or
// with a kind this Signet does not know (a newer one's), is told by english, as before kinds.
func Text(l *i18n.Localizer, f *contracts.Failure, english, jobID, timeZone string) string {
	if f == nil || !f.Kind.Known() {
		return english
	}
	if f.Reason != "" {
		return refusal(l, f, english)
	}
	switch f.Kind {
	case contracts.FailureDeclined:
		return english // the signer's own words
	case contracts.FailureExpired:
		if f.Deadline.IsZero() {
			return english
		}
		zone, err := i18n.LoadZone(timeZone)
		if err != nil {
			zone = time.UTC
		}
		return l.T("request.expired", l.DateTime(f.Deadline.In(zone)))
	case contracts.FailureOther:
		return Other(l, english, jobID)
	}
	key, args := Message(f)
	if !i18n.Has(key) {
		return english // an intake's kind without its words
	}
	return l.T(key, args...)
}

// Other is a failure without words of its own: an English reader reads the English detail, which is
// theirs; anyone else is told that the administrator has it, under the job's id, and no English
// sentence.
func Other(l *i18n.Localizer, english, jobID string) string {
	if l.Tag() == i18n.Fallback && english != "" {
		return english
	}
	return l.T("failure.other", jobID)
}

// refusal is an intake's refusal in language l: its own catalogue words (refusal.*), inside "robot
// property …" when a property is wrong. A key that is not a refusal's is not trusted to be one: the
// refusal is told by english, which the intake wrote in the portal's language.
func refusal(l *i18n.Localizer, f *contracts.Failure, english string) string {
	if !strings.HasPrefix(f.Reason, "refusal.") || !i18n.Has(f.Reason) {
		return english
	}
	args := make([]any, len(f.Args))
	for i, a := range f.Args {
		args[i] = a
	}
	text := l.T(f.Reason, args...)
	if f.Property != "" {
		text = l.T("refusal.property", f.Property, text)
	}
	return text
}

// Message is the catalogue key of a worker's failure (failure.<kind>, or a variant for the facts it
// has) and its arguments.
func Message(f *contracts.Failure) (string, []any) {
	key := "failure." + string(f.Kind)
	switch f.Kind {
	case contracts.FailureTooLarge:
		if f.Limit > 0 {
			return key + ".limit", []any{int((f.Limit + 1<<20 - 1) >> 20)} // whole MB, rounded up
		}
	case contracts.FailureRevoked, contracts.FailureExpiredCertificate, contracts.FailureCertificateNotYetValid,
		contracts.FailureCredentialUnknown, contracts.FailureCredentialDisabled:
		return key, []any{f.Credential, f.Signer}
	case contracts.FailureFileRemoved:
		if f.DiskFileID != 0 {
			return key + ".disk", []any{f.DiskFileID}
		}
		return key, []any{f.Item, f.Field, f.FileID}
	case contracts.FailureNoFile, contracts.FailureNoField, contracts.FailureNotFileField:
		return key, []any{f.Item, f.Field}
	case contracts.FailureGaveUp, contracts.FailureStalled:
		return key, []any{f.Attempts} // a plural: the number chooses the form
	}
	return key, nil
}
