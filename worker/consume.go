package worker

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/sourcegraph/conc/pool"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/internal/queue"
)

// jobTimeout is the longest one job or callback may run before it is cancelled and retried.
const jobTimeout = 10 * time.Minute

// pullWait is how long one pull request may wait at the consumer's leader for messages: an idle worker
// sends one request per consumer this often. The request's context ends a second later (nats.go asks
// the server to expire it that much earlier), or when a shutdown begins: the client then unsubscribes,
// and the leader hands no message to a request whose subscriber has gone (consumer.go checks the
// interest first).
const pullWait = 5 * time.Second

// consume handles up to n messages at a time. Each pull request asks for exactly the slots that are
// free, so every message arrives with a slot waiting for it: it starts, with in-progress acks, the
// moment it arrives, and the client never holds one that nobody handles (nats.go issue #1929: the
// AckWait of a buffered message runs while it waits).
//
// Each pull is one Fetch with its own subscription, not nats.go's long-lived Messages iterator. The
// iterator counts the messages it asked for and forgets that count when the connection comes back
// (reconnect), when heartbeats go missing, or on a "409 Leadership Change" (the new consumer leader
// sends one for the requests the old leader held): it then asks for a full batch again while the
// first request may still be alive at the leader, two batches come into a buffer of one, and the
// client drops the rest ("nats: slow consumer, messages dropped"). A dropped message has been
// delivered as far as JetStream knows, so it comes back only after AckWait and the back-off steps
// (queue.BackOff) — the stuck deliveries of the multi-host test after the SIGN leader was killed
// (docs/testing.md, Known failures; TestConsumeReconnectDropsNothing). A Fetch's request and buffer
// are the same size and die together, so nothing outlives its count.
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

	slots := make(chan struct{}, n)
	work := pool.New()
	defer work.Wait()
	for {
		// One free slot, waited for, then every other free one: the request asks for them all.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		k := 1
	more:
		for k < min(n, queue.MaxRequestBatch) {
			select {
			case slots <- struct{}{}:
				k++
			default:
				break more
			}
		}
		pctx, pcancel := context.WithTimeout(ctx, pullWait+time.Second)
		batch, err := cons.Fetch(k, jetstream.FetchContext(pctx))
		if err != nil {
			pcancel()
			for range k {
				<-slots
			}
			if !p.pullFailed(ctx, consumer, err) {
				return nil
			}
			continue
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			if ctx.Err() != nil {
				// A shutdown began during the pull: hand it back for another worker at once.
				<-slots
				_ = msg.Nak()
				p.Log.Info("handed back a message that arrived after the shutdown began", zap.String("consumer", consumer))
				continue
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
		pcancel()
		for range k - got {
			<-slots
		}
		if err := batch.Error(); err != nil && !p.pullFailed(ctx, consumer, err) {
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// pullFailed logs a failed pull and waits a moment; false means a shutdown began. A leader change
// ("409 Leadership Change"), a node restarting or a consumer being re-created are not terminal (nats.go
// #1729): the next pull goes to whichever node leads then.
func (p *Pool) pullFailed(ctx context.Context, consumer string, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	p.Log.Warn("pulling messages", zap.String("consumer", consumer), zap.Error(err))
	select {
	case <-ctx.Done():
		return false
	case <-time.After(250 * time.Millisecond):
		return true
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
