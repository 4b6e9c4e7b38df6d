package worker

import (
	"errors"
	"fmt"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/keyring"
	"github.com/signet-b24/signet/pades"
	"github.com/signet-b24/signet/storage"
	"github.com/signet-b24/signet/worker/evidence"
)

// A failure is either for good (permanent: term the message, tell Bitrix24, copy it to DEAD) or
// passing (NAK with a delay, try again). Two things decide, both here:
//
//   - what the error is: classify, applied where an error from outside the worker is first met (the
//     portal, the storage, the token, the PDF engine), so that the words of that place can be put
//     around it, and once more on a job's result at the queue boundary (handle_job.go);
//   - how often it was tried: giveUp, at the queue boundary, when a passing failure happened on the
//     message's last delivery (Pool.final, settle.go).
//
// Failures that are permanent by construction (a job without a valid authorisation, a CRM field that
// is not a file field, a disabled credential) are made with Permanent or Permanentf where they arise.
// settle.go only acts on the mark.

// permanentError marks a failure that will never succeed however often it is retried: a corrupt or
// encrypted PDF, an unknown or expired credential, a file outside the portal.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as never-will-work.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// Permanentf is Permanent(fmt.Errorf(...)).
func Permanentf(format string, a ...any) error { return Permanent(fmt.Errorf(format, a...)) }

// IsPermanent reports whether err was marked permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// classify is the one place that decides, by what an error is, whether it is permanent. It returns err
// marked permanent, with its permanent mark taken off when its cause passes, or as it is. The rules, in
// order:
//
//  1. a token offline or with every session busy passes (the keyring reconnects), whatever else says
//     otherwise: the PDF engine reports a key that went away mid-signature as a key that refused to
//     sign (pades.ErrBadSigner);
//  2. a failure already marked permanent stays so;
//  3. a batch command the portal did not execute (halt, rate limit) passes: it never ran;
//  4. the portal refused for good (an answer that is not a rate limit or a 5xx), or the file is
//     outside the portal, on a private address or too large;
//  5. the document cannot be signed (not a PDF, encrypted, corrupt, certified, already signed …), or
//     the timestamp authority refused the request (its outage passes);
//  6. a stored object is gone, fails its checksum, or its key is not one Signet may read.
//
// Anything else (the network, NATS, a 5xx, a timeout) passes.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case tokenTrouble(err):
		return retryable(err)
	case IsPermanent(err):
		return err
	case errors.Is(err, bitrix24.ErrBatchNotExecuted):
		return err
	case portalRefused(err), documentUnusable(err), storedObjectUnusable(err):
		return Permanent(err)
	}
	return err
}

// giveUp makes a passing failure final: it happened on the message's last delivery, and JetStream
// will not deliver it again (MaxDeliver).
func giveUp(err error, attempts int) error {
	return failing(contracts.Failure{Kind: contracts.FailureGaveUp, Attempts: attempts}, "gave up after %d attempts: %w", attempts, err)
}

// retryable undoes Permanent: for a failure whose cause passes (the token went away in the middle of a
// signature, and the signing engine reported it as a key that refused to sign).
func retryable(err error) error {
	var p *permanentError
	if errors.As(err, &p) {
		return p.err
	}
	return err
}

// tokenTrouble: the token is offline or all its sessions are busy; the job waits and retries.
func tokenTrouble(err error) bool {
	return errors.Is(err, keyring.ErrTokenOffline) || errors.Is(err, keyring.ErrTokenBusy)
}

// portalRefused: Bitrix24's retryable errors (rate limits, 5xx; the network is no *bitrix24.Error)
// pass; its other answers (file not found, access denied) and a URL outside the portal do not.
func portalRefused(err error) bool {
	var be *bitrix24.Error
	if errors.As(err, &be) && !be.Retryable() {
		return true
	}
	return errors.Is(err, bitrix24.ErrForeignHost) || errors.Is(err, bitrix24.ErrPrivateAddress) || errors.Is(err, bitrix24.ErrTooLarge)
}

// documentUnusable: the PDF engine (or the evidence pass before it) cannot sign this document.
func documentUnusable(err error) bool {
	for _, e := range []error{pades.ErrNotPDF, pades.ErrEncrypted, pades.ErrCorrupt, pades.ErrCertified, pades.ErrCMSTooLarge, pades.ErrBadSigner, pades.ErrFieldInUse, pades.ErrTooLarge, pades.ErrTimestampRefused,
		evidence.ErrAlreadySigned, evidence.ErrEncrypted, evidence.ErrNotPDF, evidence.ErrUnusable} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// storedObjectUnusable: an object that is gone or fails its checksum stays so, and a key that is not
// valid never becomes valid.
func storedObjectUnusable(err error) bool {
	return errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrIntegrity) || errors.Is(err, storage.ErrInvalidKey)
}

// ErrBusy means another live worker holds the job's lease: it is being signed right now.
var ErrBusy = errors.New("another worker is signing this job right now")

// ErrNoJobKeys: a worker was started without any public key to verify jobs with.
var ErrNoJobKeys = errors.New("no job verification keys (security.job_verify_keys_file): every job would be refused")
