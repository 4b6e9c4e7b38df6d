package worker

import (
	"errors"
	"time"
)

// retryAfterError is a passing failure that knows when to try again: a callback whose portal is paused
// (OVERLOAD_LIMIT) waits exactly until the pause ends, and a callback counts its own attempts
// (callback_attempts.go) so its back-off follows them, not JetStream's delivery count. settle NAKs it
// with that delay.
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// retryAfter marks err to be retried after d (at least a second: a NAK delay of zero is a redelivery
// at once).
func retryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, after: max(d, time.Second)}
}

// retryDelayOf is the delay retryAfter put on err, if any.
func retryDelayOf(err error) (time.Duration, bool) {
	var r *retryAfterError
	if errors.As(err, &r) {
		return r.after, true
	}
	return 0, false
}

func hasDelay(err error) bool {
	_, ok := retryDelayOf(err)
	return ok
}
