package worker

import (
	"errors"
	"fmt"
)

// permanentError marks a failure that will never succeed however often it is retried: a corrupt or
// encrypted PDF, an unknown or expired credential, a file outside the portal. It is classified once,
// at the queue boundary: permanent → term, tell Bitrix24, DEAD; anything else → nak with a delay.
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

// retryable undoes Permanent: for a failure whose cause passes (the token went away in the middle of a
// signature, and the signing engine reported it as a key that refused to sign).
func retryable(err error) error {
	var p *permanentError
	if errors.As(err, &p) {
		return p.err
	}
	return err
}

// ErrBusy means another live worker holds the job's lease: it is being signed right now.
var ErrBusy = errors.New("another worker is signing this job right now")

// ErrNoJobKeys: a worker was started without any public key to verify jobs with.
var ErrNoJobKeys = errors.New("no job verification keys (security.job_verify_keys_file): every job would be refused")
