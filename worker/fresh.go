package worker

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
)

// fresh says whether msg is a first delivery that no other worker can hold, and for which nothing
// can be recorded yet: delivered once, the original message (msgID, or no id; not a copy put back by
// `signet dlq retry`, whose job may have state from its first run), and published less than a third of
// AckWait ago. JetStream redelivers at least AckWait after the first delivery, which came after the
// publish, so no second worker can have this job before its age reaches AckWait (issue 22, must 2: the
// lease and the state reads only where they can matter; a message that waited in a client's buffer past
// AckWait, nats.go #1929, is old and takes the lease as before).
func (p *Pool) fresh(msg jetstream.Msg, msgID string) bool {
	md, err := msg.Metadata()
	if err != nil || md.NumDelivered != 1 {
		return false
	}
	if id := msg.Headers().Get(contracts.HeaderMsgID); id != "" && id != msgID {
		return false
	}
	// A clock behind the server's by more than a sixth of AckWait: not sure, take the lease.
	age, aw := p.now().Sub(md.Timestamp), p.ackWait()
	return age > -aw/6 && age < aw/3
}

// holdFresh is hold for a fresh message (fresh above): no lease is taken at first, because no other
// worker can have the message yet. One that is still running a third of AckWait later takes the lease
// then (a slow token, a large file), before any redelivery can start; one that could not take it by
// five sixths of AckWait after the publish (NATS out of reach) is cancelled, so that it never works
// beside the worker that the redelivery will reach. Fast jobs, nearly all of them, make no request.
//
// mayWrite is asked before the job's first write to NATS: without the lease, a write issued while the
// connection is down would wait in nats.go's reconnect buffer and land after the redelivery's worker
// read "nothing recorded" (docs/pipeline.md), so it is not issued; the job is left to its redelivery.
func (p *Pool) holdFresh(ctx context.Context, key string, published time.Time, log *zap.Logger) (_ context.Context, release func(), mayWrite func() error) {
	ctx, lost := context.WithCancel(ctx)
	// watch ends with release (or with ctx): the claim, the deadline and the refreshes stop with it.
	watch, stop := context.WithCancel(ctx)
	aw := p.ackWait()
	exited := make(chan struct{})
	var lease *Lease
	var held atomic.Bool
	go func() {
		defer close(exited)
		claim := time.NewTimer(max(aw/3, 100*time.Millisecond))
		defer claim.Stop()
		deadline := time.NewTimer(max(published.Add(5*aw/6).Sub(p.now()), 0))
		defer deadline.Stop()
		for watch.Err() == nil {
			select {
			case <-watch.Done():
			case <-deadline.C:
				log.Warn("the job's lease could not be taken before a redelivery may start (NATS out of reach?); stopping here, another delivery takes it over")
				lost()
				return
			case <-claim.C:
				l, err := p.Signer.Results.Claim(watch, key, leaseHolder(), 2*aw)
				if errors.Is(err, ErrBusy) {
					log.Warn("another worker holds this job's lease; stopping here", zap.Error(err))
					lost()
					return
				}
				if err != nil {
					claim.Reset(max(aw/10, 100*time.Millisecond))
					continue
				}
				lease = l
				held.Store(true)
				p.refreshLease(watch, l, lost, log, nil)
				return
			}
		}
	}()
	release = func() {
		stop()
		<-exited
		if lease != nil {
			lease.Release(context.WithoutCancel(ctx))
		}
		lost()
	}
	mayWrite = func() error {
		if held.Load() || p.JS == nil || p.JS.Conn() == nil || p.JS.Conn().IsConnected() {
			return nil
		}
		return fmt.Errorf("%s: NATS is out of reach and the job holds no lease; a redelivery takes it over: %w", key, nats.ErrDisconnected)
	}
	return ctx, release, mayWrite
}
