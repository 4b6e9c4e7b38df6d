package ops

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/queue"
)

// SignedLookup says whether a job already has a stored result (worker.Results.Signed): such a job is
// not put back on SIGN by a retry, as `signet dlq retry` does.
type SignedLookup func(ctx context.Context, jobID string) (bool, error)

// Retry puts DEAD letter seq back on its original subject, as `signet dlq retry SEQ` does: a sign job
// whose result is already stored is not signed again (the letter stays for an operator to purge).
func Retry(ctx context.Context, js jetstream.JetStream, signed SignedLookup, seq uint64) (string, error) {
	l, err := queue.GetDead(ctx, js, seq)
	if err != nil {
		return "", err
	}
	if signed != nil && l.Stream == contracts.StreamSign && l.JobID != "" {
		done, err := signed(ctx, l.JobID)
		if err != nil {
			return "", fmt.Errorf("DEAD message %d: %w", seq, err)
		}
		if done {
			return fmt.Sprintf("job %s already has a stored result; not retried (purge it with `signet dlq`)", l.JobID), nil
		}
	}
	if err := queue.Republish(ctx, js, l); err != nil {
		return "", err
	}
	return fmt.Sprintf("DEAD message %d (job %s) republished to %s", seq, l.JobID, l.Subject), nil
}
