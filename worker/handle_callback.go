package worker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/audit"
	"github.com/signet-b24/signet/internal/metrics"
	"github.com/signet-b24/signet/internal/queue"
)

// pauseReporter is what a Portal that shares OVERLOAD pauses offers (bitrix24.Client).
type pauseReporter interface {
	PausedUntil(memberID string) time.Time
}

// handleCallback delivers one result to Bitrix24. It never signs: a failed step is retried from the
// steps recorded in the results bucket.
//
// A callback whose portal is paused (OVERLOAD_LIMIT, in this process or another: bitrix24/budget)
// waits until the pause ends, with one NAK delayed to its end, and that wait is not an attempt: the
// callback consumer delivers without limit and the attempts that did try are counted in the jobs
// bucket (callback_attempts.go), so a long block never sends a callback to DEAD (issue 21 must 2).
func (p *Pool) handleCallback(ctx context.Context, msg jetstream.Msg) error {
	cb, err := contracts.DecodeCallback(msg.Data())
	if err != nil {
		return p.unreadable(ctx, msg, err)
	}
	portal := metrics.PortalLabel(cb.Portal.MemberID)
	if until := p.pausedUntil(cb.Portal.MemberID); !until.IsZero() {
		metrics.Callbacks.WithLabelValues(portal, "paused").Inc()
		return untilPauseEnds(cb, until)
	}
	// Like a job, a callback is in one worker's hands at a time: a message that waited in a client's
	// buffer past AckWait (nats.go #1929) reaches a second worker, or the same one twice, while its
	// first delivery still runs, and both would send the same timeline comment.
	ctx, release, err := p.hold(ctx, "cb-"+cb.JobID, p.Log.With(zap.String("job_id", cb.JobID), zap.String("step", "callback")))
	if err != nil {
		return err // ErrBusy: NAKed and looked at again later, when the first delivery is done
	}
	defer release()
	attempt, err := p.Caller.Results.CallbackAttempt(ctx, cb.JobID, 1)
	if err != nil {
		return err
	}
	t0 := time.Now()
	md, merr := msg.Metadata()
	err = p.Caller.Deliver(ctx, cb, merr == nil && md.NumDelivered > 1)
	metrics.StageSeconds.WithLabelValues("callback").Observe(time.Since(t0).Seconds())
	if until, paused := bitrix24.PausedUntil(err); paused && !IsPermanent(err) {
		// The portal was paused during this attempt: it does not count (the steps that were done are
		// recorded and not repeated).
		if _, rerr := p.Caller.Results.CallbackAttempt(context.WithoutCancel(ctx), cb.JobID, -1); rerr != nil {
			p.Log.Warn("callback attempt not given back after a pause", zap.String("job_id", cb.JobID), zap.Error(rerr))
		}
		metrics.Callbacks.WithLabelValues(portal, "paused").Inc()
		return untilPauseEnds(cb, until)
	}
	if err != nil && !IsPermanent(err) && !errors.Is(err, ErrBusy) && ctx.Err() == nil && p.MaxDeliver > 0 && attempt >= p.MaxDeliver {
		err = fmt.Errorf("callback of job %s %w", cb.JobID, giveUp(err, attempt))
	}
	switch {
	case IsPermanent(err):
		metrics.Callbacks.WithLabelValues(portal, "failed").Inc()
		e := audit.CallbackEvent(contracts.AuditCallbackFailed, cb)
		e.Reason = err.Error()
		p.record(ctx, e)
		if derr := p.dead(ctx, msg, cb.JobID, err.Error()); derr != nil {
			return derr
		}
		return err
	case err != nil:
		metrics.Callbacks.WithLabelValues(portal, "retried").Inc()
		return retryAfter(err, queue.RetryDelay(uint64(attempt)))
	}
	metrics.Callbacks.WithLabelValues(portal, "delivered").Inc()
	p.record(ctx, audit.CallbackEvent(contracts.AuditCalledBack, cb))
	return nil
}

// pausedUntil is the end of the portal's OVERLOAD pause, or zero.
func (p *Pool) pausedUntil(memberID string) time.Time {
	if memberID == "" || p.Caller == nil {
		return time.Time{}
	}
	if pr, ok := p.Caller.Portal.(pauseReporter); ok {
		return pr.PausedUntil(memberID)
	}
	return time.Time{}
}

// untilPauseEnds is the NAK of a callback whose portal is paused: redelivered when the pause ends, and
// up to a tenth later (at most 5 s) so that a portal's waiting callbacks do not all return in the same instant.
func untilPauseEnds(cb *contracts.Callback, until time.Time) error {
	wait := max(time.Until(until), 0)
	wait += time.Duration(rand.Int64N(int64(min(max(wait/10, 100*time.Millisecond), 5*time.Second))))
	return retryAfter(fmt.Errorf("callback of job %s waits for the portal's Bitrix24 pause: %w",
		cb.JobID, &bitrix24.OverloadError{MemberID: cb.Portal.MemberID, Until: until}), wait)
}
