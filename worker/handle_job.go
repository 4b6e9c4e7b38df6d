package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/audit"
	"github.com/signet-b24/signet/internal/metrics"
)

// handleJob signs one job and queues its callback. A permanent failure, or a retryable one on the last
// delivery, becomes a failed callback (the workflow is told why) and a copy in DEAD.
func (p *Pool) handleJob(ctx context.Context, msg jetstream.Msg) error {
	job, err := contracts.DecodeSignJob(msg.Data())
	if err != nil {
		return p.unreadable(ctx, msg, err)
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
	// The token went away during the signature: the PDF engine may report "the key refused to sign",
	// but the cause is ErrTokenOffline/ErrTokenBusy, which passes (the keyring reconnects); classify
	// takes the mark off.
	signed, err := p.Signer.Sign(ctx, job)
	if err = classify(err); p.final(ctx, msg, err) {
		err = giveUp(err, p.MaxDeliver)
	}
	if err != nil {
		if !IsPermanent(err) {
			metrics.JobsTotal.WithLabelValues(metrics.PortalLabel(job.Portal.MemberID), string(job.Kind), "retried").Inc()
			if until, paused := bitrix24.PausedUntil(err); paused {
				// The portal is paused (OVERLOAD_LIMIT, issue 21): one delivery per pause, not the
				// doubling retries that would spend all of them within one 30-minute block.
				return retryAfter(err, time.Until(until))
			}
			return err
		}
		log.Warn("job failed", zap.Error(err))
		e := audit.JobEvent(contracts.AuditJobFailed, job)
		e.Outcome, e.Reason = contracts.AuditError, err.Error()
		p.record(ctx, e)
		// The failed callback first: if it cannot be queued the job is retried (and fails again
		// the same way), so the workflow always hears; DEAD is the operator's copy. The workflow is
		// told the failure's kind in the portal's language; err stays the operator's English.
		failure := failureOf(err, job, p.Signer.MaxPDFBytes)
		if cerr := p.publishCallback(ctx, job, callbackID(msg.Headers(), job.ID), nil, err.Error(), &failure); cerr != nil {
			return cerr
		}
		if derr := p.dead(ctx, msg, job.ID, err.Error()); derr != nil {
			return derr
		}
		metrics.JobsTotal.WithLabelValues(metrics.PortalLabel(job.Portal.MemberID), string(job.Kind), "failed").Inc()
		return err
	}
	log.Info("job signed", zap.String("sha256", signed.SHA256After), zap.String("certificate_serial", signed.CertificateSerial))
	if err := p.publishCallback(ctx, job, callbackID(msg.Headers(), job.ID), signed, "", nil); err != nil {
		return err
	}
	metrics.JobsTotal.WithLabelValues(metrics.PortalLabel(job.Portal.MemberID), string(job.Kind), "signed").Inc()
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

// publishCallback queues the job's one result: signed, or failed for reason (English) of kind failure;
// its Nats-Msg-Id makes a re-publish after a redelivery a no-op inside the duplicate window.
func (p *Pool) publishCallback(ctx context.Context, job *contracts.SignJob, msgID string, signed *contracts.Signed, reason string, failure *contracts.Failure) error {
	cb := contracts.NewCallback(job, signed, reason, p.now().UTC())
	cb.Failure = failure
	data, err := cb.Marshal()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	_, err = p.JS.PublishMsg(ctx, &nats.Msg{
		Subject: job.Kind.CallbackSubject(), Data: data,
		Header: nats.Header{contracts.HeaderMsgID: []string{msgID}},
	}, jetstream.WithExpectStream(contracts.StreamCallback))
	if err != nil {
		return fmt.Errorf("queueing the callback of job %s: %w", job.ID, err)
	}
	return nil
}
