package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/sourcegraph/conc/pool"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/audit"
	"github.com/signet-b24/signet/internal/metrics"
	"github.com/signet-b24/signet/internal/queue"
)

// DefaultDrainTimeout is how long jobs in hand may run on after a shutdown began (SIGTERM) before they
// are handed back to JetStream (NAK) for another worker: under Kubernetes' default 30 s grace period.
const DefaultDrainTimeout = 20 * time.Second

// jobTimeout is the longest one job or callback may run before it is cancelled and retried.
const jobTimeout = 10 * time.Minute

// publishTimeout bounds one publish to JetStream: a PubAck lost in a leader election becomes an error
// (and a retry, harmless thanks to Nats-Msg-Id) within seconds instead of holding the job.
const publishTimeout = 10 * time.Second

// deadLetterGroup is the queue group of the MAX_DELIVERIES advisory subscription: one worker of the
// cluster moves each such message to DEAD.
const deadLetterGroup = "signet-dead-letters"

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

	all := pool.New().WithContext(ctx).WithCancelOnError()
	run := func(stream, consumer string, n int, handle func(context.Context, jetstream.Msg) error) {
		all.Go(func(ctx context.Context) error {
			return p.consume(ctx, hard, stream, consumer, n, handle)
		})
	}
	run(contracts.StreamSign, contracts.ConsumerSignInteractive, max(p.Interactive, 1), p.handleJob)
	run(contracts.StreamSign, contracts.ConsumerSignBatch, max(p.Batch, 1), p.handleJob)
	run(contracts.StreamCallback, contracts.ConsumerCallback, max(p.Callbacks, 1), p.handleCallback)
	return all.Wait()
}

// consume pulls small batches and handles up to n messages at a time. A slot is taken before a
// message is, so a message never waits in our hands without in-progress acks; the client buffer holds
// at most n more (nats.go issue #1929: a prefetched message's AckWait runs while it waits there).
func (p *Pool) consume(ctx, hard context.Context, stream, consumer string, n int, handle func(context.Context, jetstream.Msg) error) error {
	var cons jetstream.Consumer
	for {
		var err error
		cons, err = p.JS.Consumer(ctx, stream, consumer)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		// NATS restarting or a leader election: wait, do not stop the worker.
		p.Log.Warn("consumer not available yet; retrying", zap.String("consumer", consumer), zap.String("stream", stream), zap.Error(err))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(n), jetstream.PullExpiry(5*time.Second))
	if err != nil {
		return fmt.Errorf("consumer %s: %w", consumer, err)
	}
	stopIt := context.AfterFunc(ctx, it.Drain)
	defer stopIt()
	defer it.Stop()

	slots := make(chan struct{}, n)
	work := pool.New()
	defer work.Wait()
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			// Hand back whatever the client still buffers; the in-flight jobs finish in work.Wait.
			p.handBack(it, consumer)
			return nil
		}
		msg, err := it.Next()
		if err != nil {
			<-slots
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || ctx.Err() != nil {
				return nil
			}
			// Missed heartbeats while NATS restarts or a leader moves: not terminal (nats.go #1729).
			p.Log.Warn("pulling messages", zap.String("consumer", consumer), zap.Error(err))
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		if ctx.Err() != nil {
			<-slots
			_ = msg.Nak()
			p.handBack(it, consumer)
			return nil
		}
		work.Go(func() {
			defer func() { <-slots }()
			// A job in hand is not cancelled by a shutdown, only by the drain deadline; it keeps its
			// own ceiling (jobTimeout), and in-progress acks keep JetStream from redelivering it
			// meanwhile. The ceiling is a timer, not a context deadline: nats.go gives every
			// JetStream request without a deadline its 5 s default timeout, whereas under a
			// 10-minute deadline a KV read whose reply died with a stream leader (or the portal
			// registry lookup inside every REST call) would hold the job for 10 minutes.
			hctx, cancel := context.WithCancel(hard)
			defer cancel()
			ceiling := time.AfterFunc(jobTimeout, cancel)
			defer ceiling.Stop()
			stop := p.heartbeat(msg)
			err := handle(hctx, msg)
			stop()
			p.settle(consumer, msg, err, hard.Err() != nil)
		})
	}
}

// handBack NAKs the messages the iterator still delivers after a shutdown began, until it is closed.
func (p *Pool) handBack(it jetstream.MessagesContext, consumer string) {
	it.Drain()
	n := 0
	for {
		msg, err := it.Next()
		if err != nil {
			break
		}
		_ = msg.Nak()
		n++
	}
	if n > 0 {
		p.Log.Info("handed back buffered messages on shutdown", zap.String("consumer", consumer), zap.Int("messages", n))
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

// settle acks, naks with a delay, or terminates the message according to the handler's error. A job
// cut short by the drain deadline is NAKed without delay: another worker takes it at once.
func (p *Pool) settle(consumer string, msg jetstream.Msg, err error, draining bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
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
		// Term acks the message: in a WorkQueue stream that deletes it. Its copy is in DEAD.
		if terr := msg.TermWithReason(reasonOf(err)); terr != nil {
			log.Warn("term not sent; the message will be redelivered and fail again", zap.Error(terr))
		}
	case draining:
		log.Info("shutting down: job handed back to JetStream", zap.Error(err))
		_ = msg.Nak()
	case errors.Is(err, ErrBusy):
		log.Info("job is being signed by another worker; looking again later", zap.Error(err))
		_ = msg.NakWithDelay(p.ackWait())
	default:
		d := queue.RetryDelay(delivered)
		log.Warn("failed, will retry", zap.Duration("in", d), zap.Error(err))
		_ = msg.NakWithDelay(d)
	}
}

func reasonOf(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// handleJob signs one job and queues its callback. A permanent failure, or a retryable one on the last
// delivery, becomes a failed callback (the workflow is told why) and a copy in DEAD.
func (p *Pool) handleJob(ctx context.Context, msg jetstream.Msg) error {
	job, err := contracts.DecodeSignJob(msg.Data())
	if err != nil {
		if derr := p.dead(ctx, msg, queue.JobIDOf(msg.Data()), err.Error()); derr != nil {
			return derr
		}
		return Permanent(err)
	}
	// Proof of authorisation first: a forged job takes no lease, reads no result, touches no key.
	if err := p.Signer.authentic(job); err != nil {
		p.refuseUnauthorised(ctx, msg, job, err)
		if derr := p.dead(ctx, msg, bounded(job.ID, 64), err.Error()); derr != nil {
			return derr
		}
		return err
	}
	log := p.Log.With(zap.String("job_id", job.ID), zap.String("kind", string(job.Kind)))
	if md, err := msg.Metadata(); err == nil && md.NumDelivered == 1 {
		metrics.StageSeconds.WithLabelValues("queue_wait").Observe(p.now().Sub(md.Timestamp).Seconds())
	}
	ctx, release, err := p.hold(ctx, job.ID, log)
	if err != nil {
		return err // ErrBusy: another worker signs it right now; NAKed and looked at again later
	}
	defer release()
	signed, err := p.Signer.Sign(ctx, job)
	if IsPermanent(err) && tokenTrouble(err) {
		// The token went away during the signature: the PDF engine reports "the key refused to
		// sign", but the cause is ErrTokenOffline/ErrTokenBusy, which passes (the keyring reconnects).
		err = retryable(err)
	}
	if err != nil && !IsPermanent(err) && p.lastDelivery(msg) && ctx.Err() == nil && !errors.Is(err, ErrBusy) {
		err = Permanentf("gave up after %d attempts: %w", p.MaxDeliver, err)
	}
	if err != nil {
		if !IsPermanent(err) {
			metrics.JobsTotal.WithLabelValues(string(job.Kind), "retried").Inc()
			return err
		}
		log.Warn("job failed", zap.Error(err))
		e := audit.JobEvent(contracts.AuditJobFailed, job)
		e.Outcome, e.Reason = contracts.AuditError, err.Error()
		p.record(ctx, e)
		// The failed callback first: if it cannot be queued the job is retried (and fails again
		// the same way), so the workflow always hears; DEAD is the operator's copy.
		if cerr := p.publishCallback(ctx, job, callbackID(msg.Headers(), job.ID), nil, err.Error()); cerr != nil {
			return cerr
		}
		if derr := p.dead(ctx, msg, job.ID, err.Error()); derr != nil {
			return derr
		}
		metrics.JobsTotal.WithLabelValues(string(job.Kind), "failed").Inc()
		return err
	}
	log.Info("job signed", zap.String("sha256", signed.SHA256After), zap.String("certificate_serial", signed.CertificateSerial))
	if err := p.publishCallback(ctx, job, callbackID(msg.Headers(), job.ID), signed, ""); err != nil {
		return err
	}
	metrics.JobsTotal.WithLabelValues(string(job.Kind), "signed").Inc()
	return nil
}

// callbackID is the Nats-Msg-Id of a job's callback: "cb-" and the job message's own id, which is the
// job id, or for a job put back by `signet dlq retry` the job id with "-retry-<seq>", so that the
// callback of a retried job is not dropped as a duplicate of the failed one.
func callbackID(h nats.Header, jobID string) string {
	if id := h.Get(contracts.HeaderMsgID); id != "" {
		return "cb-" + id
	}
	return "cb-" + jobID
}

func (p *Pool) ackWait() time.Duration {
	if p.AckWait > 0 {
		return p.AckWait
	}
	return 30 * time.Second
}

// leaseHolder names one attempt at a job: process and a random id.
func leaseHolder() string {
	return fmt.Sprintf("pid %d %s", os.Getpid(), nuid.Next())
}

// hold takes the lease named key (a job id, or "cb-" and a job id for its callback) and keeps it
// fresh until release is called. The returned context ends if another worker takes the lease over
// (this one was cut off from NATS for longer than the stale time), so that only one does the work.
func (p *Pool) hold(ctx context.Context, key string, log *zap.Logger) (context.Context, func(), error) {
	lease, err := p.Signer.Results.Claim(ctx, key, leaseHolder(), 2*p.ackWait())
	if err != nil {
		return ctx, nil, err
	}
	ctx, lost := context.WithCancel(ctx)
	stopLease := p.keepLease(ctx, lease, lost, log)
	return ctx, func() {
		stopLease()
		lease.Release(context.WithoutCancel(ctx))
		lost()
	}, nil
}

// keepLease refreshes the lease with the heartbeat; if another worker took it over (this one was cut
// off from NATS for longer than the stale time), the job is cancelled so that only one signs.
func (p *Pool) keepLease(ctx context.Context, l *Lease, lost context.CancelFunc, log *zap.Logger) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(max(p.ackWait()/3, 100*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if err := l.Refresh(ctx); errors.Is(err, ErrBusy) {
					log.Warn("another worker took this job over while NATS was out of reach; stopping here")
					lost()
					return
				}
			}
		}
	}()
	return func() { close(done) }
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
func (p *Pool) publishCallback(ctx context.Context, job *contracts.SignJob, msgID string, signed *contracts.Signed, reason string) error {
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
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	_, err = p.JS.PublishMsg(ctx, &nats.Msg{
		Subject: contracts.SubjectCallback, Data: data,
		Header: nats.Header{contracts.HeaderMsgID: []string{msgID}},
	}, jetstream.WithExpectStream(contracts.StreamCallback))
	if err != nil {
		return fmt.Errorf("queueing the callback of job %s: %w", job.ID, err)
	}
	return nil
}

// handleCallback delivers one result to Bitrix24. It never signs: a failed step is retried from the
// steps recorded in the results bucket.
func (p *Pool) handleCallback(ctx context.Context, msg jetstream.Msg) error {
	cb, err := contracts.DecodeCallback(msg.Data())
	if err != nil {
		if derr := p.dead(ctx, msg, queue.JobIDOf(msg.Data()), err.Error()); derr != nil {
			return derr
		}
		return Permanent(err)
	}
	// Like a job, a callback is in one worker's hands at a time: a message that waited in a client's
	// buffer past AckWait (nats.go #1929) reaches a second worker, or the same one twice, while its
	// first delivery still runs, and both would send the same timeline comment.
	ctx, release, err := p.hold(ctx, "cb-"+cb.JobID, p.Log.With(zap.String("job_id", cb.JobID), zap.String("step", "callback")))
	if err != nil {
		return err // ErrBusy: NAKed and looked at again later, when the first delivery is done
	}
	defer release()
	t0 := time.Now()
	md, merr := msg.Metadata()
	err = p.Caller.Deliver(ctx, cb, merr == nil && md.NumDelivered > 1)
	metrics.StageSeconds.WithLabelValues("callback").Observe(time.Since(t0).Seconds())
	if err != nil && p.lastDelivery(msg) && ctx.Err() == nil {
		err = Permanentf("callback of job %s gave up after %d attempts: %w", cb.JobID, p.MaxDeliver, err)
	}
	if IsPermanent(err) {
		e := audit.CallbackEvent(contracts.AuditCallbackFailed, cb)
		e.Reason = err.Error()
		p.record(ctx, e)
		if derr := p.dead(ctx, msg, cb.JobID, err.Error()); derr != nil {
			return derr
		}
	}
	if err == nil {
		p.record(ctx, audit.CallbackEvent(contracts.AuditCalledBack, cb))
	}
	return err
}

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
				if err := p.publishCallback(ctx, job, callbackID(raw.Header, job.ID), signed, ""); err != nil {
					return err
				}
				log.Warn("job exhausted its deliveries after it was signed; its callback is queued")
				return st.DeleteMsg(ctx, a.StreamSeq)
			}
			if err := p.publishCallback(ctx, job, callbackID(raw.Header, job.ID), nil, reason); err != nil {
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
