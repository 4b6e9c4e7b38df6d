package worker

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"
)

// CallbackAttempt adds delta to the attempts of a job's callback and returns the new count. The
// callback consumer delivers without limit (queue.CallbackMaxDeliver) so that a paused portal does not
// use up a callback's deliveries; this count, in the jobs bucket beside the callback's steps, is what
// worker.max_deliver bounds instead. One worker holds a callback at a time (its lease), so a plain
// read and write is enough.
func (r *Results) CallbackAttempt(ctx context.Context, jobID string, delta int) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	key := "cbtry." + jobID
	n := 0
	e, err := r.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
	case err != nil:
		return 0, fmt.Errorf("callback %s: reading its attempts: %w", jobID, err)
	default:
		n, _ = strconv.Atoi(string(e.Value()))
	}
	n = max(n+delta, 0)
	if _, err := r.kv.Put(ctx, key, []byte(strconv.Itoa(n))); err != nil {
		return 0, fmt.Errorf("callback %s: recording its attempts: %w", jobID, err)
	}
	return n, nil
}
