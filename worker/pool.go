package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sourcegraph/conc/pool"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/queue"
)

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
	Log         *zap.Logger
	Now         func() time.Time
}

// Run consumes until ctx ends, then lets the jobs in hand finish before it returns.
func (p *Pool) Run(ctx context.Context) error {
	all := pool.New().WithContext(ctx).WithCancelOnError()
	run := func(stream, consumer string, n int, handle func(context.Context, jetstream.Msg) error) {
		all.Go(func(ctx context.Context) error {
			return p.consume(ctx, stream, consumer, n, handle)
		})
	}
	run(contracts.StreamSign, contracts.ConsumerSignInteractive, p.Interactive, p.handleJob)
	run(contracts.StreamSign, contracts.ConsumerSignBatch, p.Batch, p.handleJob)
	run(contracts.StreamCallback, contracts.ConsumerCallback, p.Callbacks, p.handleCallback)
	return all.Wait()
}

// consume pulls small batches (at most n messages in the client at once, nats.go issue #1929: a
// prefetched message's AckWait runs while it waits in the buffer) and handles up to n at a time.
func (p *Pool) consume(ctx context.Context, stream, consumer string, n int, handle func(context.Context, jetstream.Msg) error) error {
	cons, err := p.JS.Consumer(ctx, stream, consumer)
	if err != nil {
		return fmt.Errorf("consumer %s on %s: %w", consumer, stream, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(n), jetstream.PullExpiry(5*time.Second))
	if err != nil {
		return fmt.Errorf("consumer %s: %w", consumer, err)
	}
	go func() {
		<-ctx.Done()
		it.Drain()
	}()
	// Jobs in hand finish even when ctx ends (SIGTERM): they get their own context, bounded by AckWait
	// per step through in-progress acks, and are acked before Run returns.
	work := pool.New().WithMaxGoroutines(n)
	defer work.Wait()
	for {
		msg, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || ctx.Err() != nil {
				return nil
			}
			p.Log.Warn("pulling messages", zap.String("consumer", consumer), zap.Error(err))
			continue
		}
		work.Go(func() {
			hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
			defer cancel()
			stop := p.heartbeat(msg)
			err := handle(hctx, msg)
			stop()
			p.settle(hctx, consumer, msg, err)
		})
	}
}

// heartbeat sends in-progress acks (+WPI) every third of AckWait, so a slow token or portal does not
// make JetStream hand the same job to a second worker.
func (p *Pool) heartbeat(msg jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(max(p.AckWait/3, 100*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	return func() { close(done) }
}

// settle acks, naks with a delay, or terminates the message according to the handler's error.
func (p *Pool) settle(ctx context.Context, consumer string, msg jetstream.Msg, err error) {
	md, _ := msg.Metadata()
	var delivered uint64 = 1
	if md != nil {
		delivered = md.NumDelivered
	}
	log := p.Log.With(zap.String("consumer", consumer), zap.Uint64("delivery", delivered))
	switch {
	case err == nil:
		if aerr := msg.DoubleAck(ctx); aerr != nil {
			log.Warn("ack not confirmed; the message may be redelivered and will find its result", zap.Error(aerr))
		}
	case IsPermanent(err):
		log.Warn("failed for good", zap.Error(err))
		_ = msg.Term()
	default:
		d := queue.RetryDelay(delivered)
		log.Warn("failed, will retry", zap.Duration("in", d), zap.Error(err))
		_ = msg.NakWithDelay(d)
	}
}

// handleJob signs one job and queues its callback. A permanent failure, or a retryable one on the last
// delivery, becomes a failed callback (the workflow is told why) and a copy in DEAD.
func (p *Pool) handleJob(ctx context.Context, msg jetstream.Msg) error {
	job, err := contracts.DecodeSignJob(msg.Data())
	if err != nil {
		p.dead(ctx, contracts.SubjectDeadSign, msg.Data(), err.Error())
		return Permanent(err)
	}
	log := p.Log.With(zap.String("job_id", job.ID), zap.String("kind", string(job.Kind)))
	signed, err := p.Signer.Sign(ctx, job)
	if err != nil && !IsPermanent(err) && p.lastDelivery(msg) {
		err = Permanentf("gave up after %d attempts: %w", p.MaxDeliver, err)
	}
	if err != nil {
		if !IsPermanent(err) {
			return err
		}
		log.Warn("job failed", zap.Error(err))
		p.dead(ctx, contracts.SubjectDeadSign, msg.Data(), err.Error())
		if cerr := p.publishCallback(ctx, job, nil, err.Error()); cerr != nil {
			return cerr // retry: the workflow must hear about the failure
		}
		return Permanent(err)
	}
	log.Info("job signed", zap.String("sha256", signed.SHA256After), zap.String("certificate_serial", signed.CertificateSerial))
	return p.publishCallback(ctx, job, signed, "")
}

func (p *Pool) lastDelivery(msg jetstream.Msg) bool {
	md, err := msg.Metadata()
	return err == nil && p.MaxDeliver > 0 && md.NumDelivered >= uint64(p.MaxDeliver)
}

func (p *Pool) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// publishCallback queues the job's one result; its Nats-Msg-Id makes a re-publish after a redelivery a
// no-op inside the duplicate window.
func (p *Pool) publishCallback(ctx context.Context, job *contracts.SignJob, signed *contracts.Signed, reason string) error {
	cb := &contracts.Callback{
		JobID: job.ID, Kind: job.Kind, BatchID: job.BatchID, Portal: job.Portal, Document: job.Document,
		Signer: job.Signer, Reply: job.Reply, Signed: signed, Error: reason, Time: p.now().UTC(),
		Outcome: contracts.OutcomeSigned,
	}
	if signed == nil {
		cb.Outcome = contracts.OutcomeFailed
	}
	data, err := cb.Marshal()
	if err != nil {
		return err
	}
	_, err = p.JS.PublishMsg(ctx, &nats.Msg{
		Subject: contracts.SubjectCallback, Data: data,
		Header: nats.Header{contracts.HeaderMsgID: []string{"cb-" + job.ID}},
	}, jetstream.WithExpectStream(contracts.StreamCallback))
	if err != nil {
		return fmt.Errorf("queueing the callback of job %s: %w", job.ID, err)
	}
	return nil
}

// handleCallback delivers one result to Bitrix24.
func (p *Pool) handleCallback(ctx context.Context, msg jetstream.Msg) error {
	cb, err := contracts.DecodeCallback(msg.Data())
	if err != nil {
		p.dead(ctx, contracts.SubjectDeadCallback, msg.Data(), err.Error())
		return Permanent(err)
	}
	err = p.Caller.Deliver(ctx, cb)
	if err != nil && p.lastDelivery(msg) {
		p.dead(ctx, contracts.SubjectDeadCallback, msg.Data(), err.Error())
		return Permanentf("callback of job %s gave up after %d attempts: %w", cb.JobID, p.MaxDeliver, err)
	}
	return err
}

// dead keeps a copy of a message that failed for good, with its reason, in the DEAD stream.
func (p *Pool) dead(ctx context.Context, subject string, data []byte, reason string) {
	_, err := p.JS.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: data,
		Header: nats.Header{contracts.HeaderReason: []string{reason}}})
	if err != nil {
		p.Log.Error("could not write to DEAD", zap.Error(err))
	}
}
