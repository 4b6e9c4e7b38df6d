package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/sourcegraph/conc/pool"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
)

// jobTimeout is the longest one job or callback may run before it is cancelled and retried.
const jobTimeout = 10 * time.Minute

// consume pulls small batches and handles up to n messages at a time. A slot is taken before a
// message is, so a message never waits in our hands without in-progress acks; the client buffer holds
// at most prefetch more (nats.go issue #1929: a prefetched message's AckWait runs while it waits there).
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
	it, err := cons.Messages(jetstream.PullMaxMessages(prefetch(consumer, n)), jetstream.PullExpiry(5*time.Second))
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

// prefetch is how many messages the client may hold beyond those in hand. A prefetched message has
// no in-progress acks: its AckWait runs while it waits for a slot, and the k-th of them waits for k
// jobs to end. Batch jobs end at a slow token's pace (a USB token signs 2–20 times a second, tokens.go),
// so worker.batch of them prefetched would wait worker.batch/rate seconds, past AckWait for a large
// pool on a slow token, and come back as redeliveries. The batch consumer therefore holds one message
// beyond its slots, which waits for the next job to end; it costs a pull round trip per batch job, which
// a batch does not notice. Interactive jobs and callbacks keep n, for latency.
func prefetch(consumer string, n int) int {
	if consumer == contracts.ConsumerSignBatch {
		return 1
	}
	return n
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
