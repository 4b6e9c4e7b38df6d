package worker

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/internal/queue"
)

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
	case hasDelay(err):
		d, _ := retryDelayOf(err)
		log.Warn("failed, will retry", zap.Duration("in", d), zap.Error(err))
		_ = msg.NakWithDelay(d)
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

// final says whether a failure that would be retried ends here (errors.go, giveUp): it happened on the
// message's last delivery, the handler ran to its end (one cut short by a shutdown or a lost lease is
// another worker's to finish), and it was not only waiting for another worker's lease (ErrBusy).
func (p *Pool) final(ctx context.Context, msg jetstream.Msg, err error) bool {
	return err != nil && !IsPermanent(err) && !errors.Is(err, ErrBusy) && ctx.Err() == nil && p.lastDelivery(msg)
}

func (p *Pool) lastDelivery(msg jetstream.Msg) bool {
	md, err := msg.Metadata()
	return err == nil && p.MaxDeliver > 0 && md.NumDelivered >= uint64(p.MaxDeliver)
}
