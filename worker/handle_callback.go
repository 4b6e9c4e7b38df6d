package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/audit"
	"github.com/signet-b24/signet/internal/metrics"
)

// handleCallback delivers one result to Bitrix24. It never signs: a failed step is retried from the
// steps recorded in the results bucket.
func (p *Pool) handleCallback(ctx context.Context, msg jetstream.Msg) error {
	cb, err := contracts.DecodeCallback(msg.Data())
	if err != nil {
		return p.unreadable(ctx, msg, err)
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
	if p.final(ctx, msg, err) {
		err = fmt.Errorf("callback of job %s %w", cb.JobID, giveUp(err, p.MaxDeliver))
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
