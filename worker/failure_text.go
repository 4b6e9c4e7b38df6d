package worker

import (
	"errors"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/internal/reasons"
)

// failureText is why cb's job ended unsigned, in language l: what the workflow reads (errorText,
// outcomeReason), its log and the requester's notification (issue 18, must 3); internal/reasons words
// it, as it does for the intake's pages.
func failureText(l *i18n.Localizer, cb *contracts.Callback) string {
	return reasons.Text(l, cb.Failure, cb.Error, cb.JobID, cb.TimeZone)
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
		if key, args := reasons.Message(&fe.f); i18n.Has(key) {
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
