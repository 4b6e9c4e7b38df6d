package worker

import (
	"errors"
	"strings"
	"time"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/i18n"
)

// failureText is why cb's job ended unsigned, in language l: what the workflow reads (errorText,
// outcomeReason), its log and the requester's notification (issue 18, must 3). A callback without a
// kind (queued by an older Signet), or with a kind this worker does not know (a newer one's), is told
// by its Error, as before kinds.
func failureText(l *i18n.Localizer, cb *contracts.Callback) string {
	f := cb.Failure
	if f == nil || !f.Kind.Known() {
		return cb.Error
	}
	if f.Reason != "" {
		return refusalText(l, cb)
	}
	switch f.Kind {
	case contracts.FailureDeclined:
		return cb.Error // the signer's own words
	case contracts.FailureExpired:
		if f.Deadline.IsZero() {
			return cb.Error
		}
		zone, err := i18n.LoadZone(cb.TimeZone)
		if err != nil {
			zone = time.UTC
		}
		return l.T("request.expired", l.DateTime(f.Deadline.In(zone)))
	case contracts.FailureOther:
		// No words for it: an English reader reads the English detail, which is theirs; anyone else
		// is told that the administrator has it, under the job's id, and no English sentence.
		if l.Tag() == i18n.Fallback && cb.Error != "" {
			return cb.Error
		}
		return l.T("failure.other", cb.JobID)
	}
	key, args := failureMessage(f)
	if !i18n.Has(key) {
		return cb.Error // an intake's kind without its words
	}
	return l.T(key, args...)
}

// refusalText is an intake's refusal in language l: its own catalogue words (refusal.*), inside
// "robot property …" when a property is wrong. A key that is not a refusal's is not trusted to be
// one: the refusal is told by Error, which the intake wrote in the portal's language.
func refusalText(l *i18n.Localizer, cb *contracts.Callback) string {
	f := cb.Failure
	if !strings.HasPrefix(f.Reason, "refusal.") || !i18n.Has(f.Reason) {
		return cb.Error
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

// writeBackText is why a signed PDF could not replace the original (err, a permanent failure of the
// write-back), in language l, for outcomeReason: the words of a failure the worker found (a field
// that is gone), or the portal's refusal by its code (ACCESS_DENIED…), which is the same in every
// language. Anything else is told like FailureOther: its English error to an English portal, the job
// id to any other.
func writeBackText(l *i18n.Localizer, err error, jobID string) string {
	var fe *failedError
	var be *bitrix24.Error
	switch {
	case errors.As(err, &fe):
		if key, args := failureMessage(&fe.f); i18n.Has(key) {
			return l.T("callback.writeback.failed", l.T(key, args...))
		}
	case errors.As(err, &be) && be.Code != "":
		return l.T("callback.writeback.refused", be.Code)
	}
	if l.Tag() == i18n.Fallback {
		return l.T("callback.writeback.failed", err)
	}
	return l.T("callback.writeback.unknown", jobID)
}

// failureMessage is the catalogue key of a worker's failure (failure.<kind>, or a variant for the
// facts it has) and its arguments.
func failureMessage(f *contracts.Failure) (string, []any) {
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
