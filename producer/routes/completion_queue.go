package routes

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
)

// QueueSealer is the intake's Sealer: it signs the seal job with the intake's job key (job-auth,
// like every intake job, so the worker takes it as authorised) and queues it on the sign stream
// with its id as the Nats-Msg-Id (a repeat within the stream's duplicate window is one job).
type QueueSealer struct {
	JS     jetstream.JetStream
	JobKey *contracts.JobSigner
	// SealCredential is external.seal_credential, the company's seal (a PKCS#11 URI without PIN).
	SealCredential string
}

// Credential is the seal's key URI.
func (q *QueueSealer) Credential() string { return q.SealCredential }

// Queue signs and queues job.
func (q *QueueSealer) Queue(ctx context.Context, job *contracts.SignJob) error {
	if q.JobKey == nil {
		return fmt.Errorf("the intake has no job signing key (security.job_signing_key_file): the route cannot be sealed")
	}
	q.JobKey.Sign(job, time.Now())
	if err := job.Validate(); err != nil {
		return err
	}
	data, err := job.Marshal()
	if err != nil {
		return err
	}
	if _, err := q.JS.PublishMsg(ctx, &nats.Msg{Subject: job.Kind.Subject(), Data: data,
		Header: nats.Header{contracts.HeaderMsgID: []string{job.ID}}}, jetstream.WithExpectStream(contracts.StreamSign)); err != nil {
		return fmt.Errorf("queueing the seal %s: %w", job.ID, err)
	}
	return nil
}
