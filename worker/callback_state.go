package worker

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
)

// SaveOutcome records that the callback of cb was delivered.
func (r *Results) SaveOutcome(ctx context.Context, cb *contracts.Callback, writeBackError string) error {
	o := contracts.Delivered{Outcome: cb.Outcome, Error: cb.Error, Failure: cb.Failure, Delivered: time.Now().UTC()}
	if o.Error == "" {
		o.Error = writeBackError
	}
	data, _ := json.Marshal(o)
	_, err := r.kv.Put(ctx, contracts.DeliveredKey(cb.JobID), data)
	return err
}

// DeliveredOutcome returns the recorded outcome of a job, or nil before its callback was delivered.
func (r *Results) DeliveredOutcome(ctx context.Context, jobID string) (*contracts.Delivered, error) {
	e, err := r.kv.Get(ctx, contracts.DeliveredKey(jobID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var o contracts.Delivered
	return &o, json.Unmarshal(e.Value(), &o)
}
