package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/queue"
)

// deadLetterGroup is the queue group of the MAX_DELIVERIES advisory subscription: one worker of the
// cluster moves each such message to DEAD.
const deadLetterGroup = "signet-dead-letters"

// dead copies a message that failed for good, with its reason, to DEAD. The caller then terminates
// it, which removes it from its WorkQueue stream.
func (p *Pool) dead(ctx context.Context, msg jetstream.Msg, jobID, reason string) error {
	d := queue.Dead{Subject: msg.Subject(), JobID: jobID, Reason: reason, Data: msg.Data()}
	if md, err := msg.Metadata(); err == nil {
		d.Stream, d.Seq, d.Deliveries = md.Stream, md.Sequence.Stream, md.NumDelivered
	}
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	if err := queue.MoveToDead(ctx, p.JS, d); err != nil {
		p.Log.Error("could not write to DEAD; the message will be retried", zap.String("job_id", jobID), zap.Error(err))
		return err
	}
	p.record(ctx, contracts.AuditEvent{Action: contracts.AuditJobDead, JobID: jobID, Outcome: contracts.AuditError, Reason: reason,
		Detail: fmt.Sprintf("%s seq %d, %d deliveries", d.Stream, d.Seq, d.Deliveries)})
	return nil
}

// unreadable dead-letters a message that does not decode (an unknown version, a missing field): it
// never will, so the caller terminates it.
func (p *Pool) unreadable(ctx context.Context, msg jetstream.Msg, err error) error {
	if derr := p.dead(ctx, msg, queue.JobIDOf(msg.Data()), err.Error()); derr != nil {
		return derr
	}
	return Permanent(err)
}

// watchMaxDeliveries listens to JetStream's MAX_DELIVERIES advisories of SIGN and CALLBACK: a message
// delivered MaxDeliver times without an ack (every worker that took it died or hung) is never
// delivered again, and in a WorkQueue stream it is not removed either ("correct behaviour", says the
// maintainer, nats-server#5564). One worker of the cluster (a queue group) moves it to DEAD, tells the
// workflow, and deletes it.
func (p *Pool) watchMaxDeliveries() (stop func(), err error) {
	nc := p.JS.Conn()
	var subs []*nats.Subscription
	stop = func() {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
	}
	for _, stream := range []string{contracts.StreamSign, contracts.StreamCallback} {
		s, err := nc.QueueSubscribe(queue.MaxDeliveriesSubject(stream), deadLetterGroup, func(m *nats.Msg) {
			var a queue.MaxDeliveries
			if err := json.Unmarshal(m.Data, &a); err != nil || a.StreamSeq == 0 {
				p.Log.Warn("unreadable MAX_DELIVERIES advisory", zap.Error(err))
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := p.onMaxDeliveries(ctx, a); err != nil {
				p.Log.Error("could not move a message that exhausted its deliveries to DEAD; the sweep will try again",
					zap.String("stream", a.Stream), zap.Uint64("seq", a.StreamSeq), zap.Error(err))
			}
		})
		if err != nil {
			stop()
			return nil, err
		}
		subs = append(subs, s)
	}
	return stop, nil
}

// StrandedSweep is how often a worker looks for messages that exhausted their deliveries but were
// not moved to DEAD (see queue.Stranded): the advisory is sent once, and its handler can fail.
const StrandedSweep = time.Minute

// sweepStranded runs until ctx ends. Every worker sweeps; moving a message to DEAD is idempotent.
func (p *Pool) sweepStranded(ctx context.Context) {
	t := time.NewTicker(StrandedSweep)
	defer t.Stop()
	for {
		sctx, cancel := context.WithTimeout(ctx, StrandedSweep)
		found, err := queue.Stranded(sctx, p.JS)
		if err != nil && ctx.Err() == nil {
			p.Log.Warn("looking for messages that exhausted their deliveries failed; will look again", zap.Error(err))
		}
		for _, a := range found {
			if err := p.onMaxDeliveries(sctx, a); err != nil && ctx.Err() == nil {
				p.Log.Error("could not move a message that exhausted its deliveries to DEAD; will try again",
					zap.String("stream", a.Stream), zap.Uint64("seq", a.StreamSeq), zap.Error(err))
			}
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *Pool) onMaxDeliveries(ctx context.Context, a queue.MaxDeliveries) error {
	st, err := p.JS.Stream(ctx, a.Stream)
	if err != nil {
		return err
	}
	raw, err := st.GetMsg(ctx, a.StreamSeq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil // settled after all, or already moved
	}
	if err != nil {
		return err
	}
	reason := fmt.Sprintf("gave up after %d deliveries without an answer from a worker (it stopped or hung each time); check the workers' logs, then `signet dlq retry`", a.Deliveries)
	d := queue.Dead{Subject: raw.Subject, Stream: a.Stream, Seq: a.StreamSeq, Deliveries: a.Deliveries,
		JobID: queue.JobIDOf(raw.Data), Reason: reason, Data: raw.Data}
	log := p.Log.With(zap.String("stream", a.Stream), zap.Uint64("seq", a.StreamSeq), zap.String("job_id", d.JobID))
	if a.Stream == contracts.StreamSign {
		// Only a job an intake authorised may make Signet call its portal (authorise.go).
		if job, derr := contracts.DecodeSignJob(raw.Data); derr == nil && p.Signer.authentic(job) == nil {
			// Signed on an earlier delivery, but never acked: the result goes out, nothing is dead.
			if signed, serr := p.Signer.Results.Signed(ctx, job.ID); serr != nil {
				return serr
			} else if signed != nil {
				if err := p.publishCallback(ctx, job, callbackID(raw.Header, job.ID), signed, "", nil); err != nil {
					return err
				}
				log.Warn("job exhausted its deliveries after it was signed; its callback is queued")
				return st.DeleteMsg(ctx, a.StreamSeq)
			}
			stalled := &contracts.Failure{Kind: contracts.FailureStalled, Attempts: int(a.Deliveries)}
			if err := p.publishCallback(ctx, job, callbackID(raw.Header, job.ID), nil, reason, stalled); err != nil {
				return err
			}
		}
	}
	if a.Stream == contracts.StreamCallback {
		// Delivered by a copy that ran while this one waited for its lease: nothing is dead.
		if cb, derr := contracts.DecodeCallback(raw.Data); derr == nil {
			if out, oerr := p.Signer.Results.DeliveredOutcome(ctx, cb.JobID); oerr != nil {
				return oerr
			} else if out != nil {
				log.Info("callback exhausted its deliveries after another copy delivered it; removed")
				return st.DeleteMsg(ctx, a.StreamSeq)
			}
		}
	}
	if err := queue.MoveToDead(ctx, p.JS, d); err != nil {
		return err
	}
	log.Warn("message exhausted its deliveries; moved to DEAD", zap.Uint64("deliveries", a.Deliveries))
	if err := st.DeleteMsg(ctx, a.StreamSeq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return err
	}
	return nil
}
