package worker

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
)

// Outcome is what the Sign dialog's status endpoint shows once a callback is delivered: stored in the
// jobs bucket under "out.<job id>" (beside "res." and "cb." of results.go).
type Outcome struct {
	Outcome contracts.Outcome `json:"outcome"`
	// Error is why the job was not signed, or why the signed file could not replace the original.
	Error     string    `json:"error,omitempty"`
	Delivered time.Time `json:"delivered"`
}

// OutcomeKey is the jobs-bucket key of a job's delivered outcome.
func OutcomeKey(jobID string) string { return "out." + jobID }

// SaveOutcome records that the callback of cb was delivered.
func (r *Results) SaveOutcome(ctx context.Context, cb *contracts.Callback, writeBackError string) error {
	o := Outcome{Outcome: cb.Outcome, Error: cb.Error, Delivered: time.Now().UTC()}
	if o.Error == "" {
		o.Error = writeBackError
	}
	data, _ := json.Marshal(o)
	_, err := r.kv.Put(ctx, OutcomeKey(cb.JobID), data)
	return err
}

// DeliveredOutcome returns the recorded outcome of a job, or nil before its callback was delivered.
func (r *Results) DeliveredOutcome(ctx context.Context, jobID string) (*Outcome, error) {
	e, err := r.kv.Get(ctx, OutcomeKey(jobID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var o Outcome
	return &o, json.Unmarshal(e.Value(), &o)
}
