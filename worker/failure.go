package worker

import (
	"errors"
	"fmt"
	"slices"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/keyring"
	"github.com/signet-b24/signet/pades"
	"github.com/signet-b24/signet/worker/evidence"
)

// A job that fails for good tells its workflow why, in the portal's language (issue 18, must 3): the
// failure's kind (contracts.Failure) goes with its callback, and the callback worker words it from
// the catalogue (failure_text.go). The English error stays what the operator reads (the log, DEAD,
// the audit reason). The kind is found once, by failureOf, at the queue boundary (handle_job.go),
// from what the error is: a sentinel of the package it came from, or a failure the worker made
// itself where it arises (failing: a CRM field, a file gone, the give-up).

// ErrCredentialDisabled: an administrator disabled the job's credential after the job was queued.
var ErrCredentialDisabled = errors.New("disabled by the administrator")

// failedError is a failure the worker made itself, with its kind and facts.
type failedError struct {
	f   contracts.Failure
	err error
}

func (e *failedError) Error() string { return e.err.Error() }
func (e *failedError) Unwrap() error { return e.err }

// failing is a permanent failure of kind f, worded for the operator by format and a.
func failing(f contracts.Failure, format string, a ...any) error {
	return Permanent(&failedError{f: f, err: fmt.Errorf(format, a...)})
}

// sentinelKinds are the failures of the packages the worker calls, by the sentinel they wrap, in the
// order they are looked for: the PDF engine's and the evidence pass's first (a document that cannot
// be signed), then the certificate's, then the portal's.
var sentinelKinds = []struct {
	kind contracts.FailureKind
	errs []error
}{
	{contracts.FailureNotPDF, []error{pades.ErrNotPDF, evidence.ErrNotPDF}},
	{contracts.FailureEncrypted, []error{pades.ErrEncrypted, evidence.ErrEncrypted}},
	{contracts.FailureCertified, []error{pades.ErrCertified}},
	{contracts.FailureAlreadySigned, []error{evidence.ErrAlreadySigned, pades.ErrFieldInUse}},
	{contracts.FailureDamaged, []error{pades.ErrCorrupt, evidence.ErrUnusable}},
	{contracts.FailureDecodingLimit, []error{pades.ErrTooLarge}},
	{contracts.FailureTimestampRefused, []error{pades.ErrTimestampRefused}},
	{contracts.FailureRevoked, []error{keyring.ErrRevoked}},
	{contracts.FailureExpiredCertificate, []error{keyring.ErrExpired}},
	{contracts.FailureCertificateNotYetValid, []error{keyring.ErrNotYetValid}},
	{contracts.FailureCredentialDisabled, []error{ErrCredentialDisabled}},
	{contracts.FailureCredentialUnknown, []error{keyring.ErrCertificateNotFound, keyring.ErrKeyNotFound, keyring.ErrUnknownToken,
		keyring.ErrTokenNotFound, keyring.ErrInvalidURI, keyring.ErrCertificateMismatch}},
	{contracts.FailureUnauthorised, []error{contracts.ErrJobAuthExpired}},
	{contracts.FailureURLOutsidePortal, []error{bitrix24.ErrForeignHost, bitrix24.ErrPrivateAddress}},
}

// failureOf is the kind of a job's permanent failure err, with the facts its words need, taken from
// the job. A failure the worker made itself (failing) is taken as made; the outermost wins, so that a
// give-up names the give-up. Anything else is FailureOther (failure_text.go says how it is told).
func failureOf(err error, job *contracts.SignJob, maxPDFBytes int64) contracts.Failure {
	var fe *failedError
	if errors.As(err, &fe) {
		return fe.f
	}
	f := contracts.Failure{Kind: contracts.FailureOther}
	for _, s := range sentinelKinds {
		if slices.ContainsFunc(s.errs, func(e error) bool { return errors.Is(err, e) }) {
			f.Kind = s.kind
			break
		}
	}
	var be *bitrix24.Error
	switch {
	case f.Kind == contracts.FailureOther && errors.Is(err, bitrix24.ErrTooLarge):
		f.Kind, f.Limit = contracts.FailureTooLarge, maxPDFBytes
	case f.Kind == contracts.FailureOther && errors.As(err, &be) && !be.Retryable():
		// The only portal calls of a signature are the document's lookup and download.
		f.Kind = contracts.FailureDownloadFailed
	}
	switch f.Kind {
	case contracts.FailureRevoked, contracts.FailureExpiredCertificate, contracts.FailureCertificateNotYetValid,
		contracts.FailureCredentialUnknown, contracts.FailureCredentialDisabled:
		f.Credential, f.Signer = job.Credential, job.Signer.Login
	}
	return f
}
