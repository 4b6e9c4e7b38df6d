package worker

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/sourcegraph/conc/pool"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/audit"
)

// DefaultDrainTimeout is how long jobs in hand may run on after a shutdown began (SIGTERM) before they
// are handed back to JetStream (NAK) for another worker: under Kubernetes' default 30 s grace period.
const DefaultDrainTimeout = 20 * time.Second

// publishTimeout bounds one publish to JetStream: a PubAck lost in a leader election becomes an error
// (and a retry, harmless thanks to Nats-Msg-Id) within seconds instead of holding the job.
const publishTimeout = 10 * time.Second

// Pool runs the consumers: interactive and batch sign jobs, and callbacks, each with its own
// concurrency so that a night batch never holds up a person in a deal card.
type Pool struct {
	JS          jetstream.JetStream
	Signer      *Signer
	Caller      *Caller
	Interactive int
	Batch       int
	Callbacks   int
	AckWait     time.Duration
	MaxDeliver  int
	// DrainTimeout bounds the jobs in hand after ctx ends; then they are NAKed (default
	// DefaultDrainTimeout).
	DrainTimeout time.Duration
	// Audit records the jobs that fail, go to DEAD or are called back.
	Audit audit.Recorder
	Log   *zap.Logger
	Now   func() time.Time
}

// record appends an audit event; a failure is logged, it never holds up a job.
func (p *Pool) record(ctx context.Context, e contracts.AuditEvent) {
	if p.Audit == nil {
		return
	}
	if err := p.Audit.Record(ctx, e); err != nil {
		p.Log.Error("audit event not recorded", zap.String("action", e.Action), zap.String("job_id", e.JobID), zap.Error(err))
	}
}

// Run consumes until ctx ends, then drains: no new message is started (those already buffered are
// handed back with a NAK), the jobs in hand get DrainTimeout to finish and be acked, and whatever is
// still running then is cancelled and NAKed, so another worker takes it at once. Nothing is lost:
// a message is only ever acked after its result is stored and its callback queued.
func (p *Pool) Run(ctx context.Context) error {
	if p.Log == nil {
		p.Log = zap.NewNop()
	}
	if p.DrainTimeout <= 0 {
		p.DrainTimeout = DefaultDrainTimeout
	}
	if p.Signer == nil || p.Signer.JobKeys == nil || p.Signer.JobKeys.Len() == 0 {
		return ErrNoJobKeys
	}
	// hard ends DrainTimeout after ctx: the deadline of the jobs in hand.
	hard, cancelHard := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHard()
	stopTimer := context.AfterFunc(ctx, func() {
		t := time.NewTimer(p.DrainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			cancelHard()
		case <-hard.Done():
		}
	})
	defer stopTimer()

	if sub, err := p.watchMaxDeliveries(); err != nil {
		p.Log.Warn("not listening to MAX_DELIVERIES advisories; a job whose every delivery timed out is moved to DEAD by the sweep within a minute or two", zap.Error(err))
	} else {
		defer sub()
	}

	go p.sweepStranded(ctx)
	go p.publishTokenRates(ctx)

	all := pool.New().WithContext(ctx).WithCancelOnError()
	run := func(stream, consumer string, n int, handle func(context.Context, jetstream.Msg) error) {
		all.Go(func(ctx context.Context) error {
			return p.consume(ctx, hard, stream, consumer, n, handle)
		})
	}
	run(contracts.StreamSign, contracts.ConsumerSignInteractive, max(p.Interactive, 1), p.handleJob)
	run(contracts.StreamSign, contracts.ConsumerSignBatch, max(p.Batch, 1), p.handleJob)
	run(contracts.StreamCallback, contracts.ConsumerCallback, max(p.Callbacks, 1), p.handleCallback)
	run(contracts.StreamCallback, contracts.ConsumerCallbackBatch, max(p.Callbacks, 1), p.handleCallback) // issue 21: batches apart
	return all.Wait()
}

func (p *Pool) ackWait() time.Duration {
	if p.AckWait > 0 {
		return p.AckWait
	}
	return 30 * time.Second
}

func (p *Pool) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}
