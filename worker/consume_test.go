package worker

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/queue"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
)

// consuming is one consume loop of the interactive sign consumer, as Pool.Run starts it: ctx ends the
// intake of new messages (a shutdown began), hard the jobs in hand (the drain deadline).
type consuming struct {
	shutdown, deadline context.CancelFunc
	done               chan error
}

func startConsume(ctx context.Context, p *Pool, n int, handle func(context.Context, jetstream.Msg) error) *consuming {
	soft, shutdown := context.WithCancel(ctx)
	hard, deadline := context.WithCancel(context.WithoutCancel(ctx))
	c := &consuming{shutdown: shutdown, deadline: deadline, done: make(chan error, 1)}
	go func() {
		c.done <- p.consume(soft, hard, contracts.StreamSign, contracts.ConsumerSignInteractive, n, handle)
	}()
	return c
}

// stop begins the shutdown and waits for the loop to return; the drain deadline is not reached.
func (c *consuming) stop(t *testing.T) {
	t.Helper()
	c.shutdown()
	select {
	case err := <-c.done:
		if err != nil {
			t.Fatalf("consume returned %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("consume did not return a minute after the shutdown began")
	}
	c.deadline()
}

// handled counts the deliveries a handler saw, by job id.
type handled struct {
	mu sync.Mutex
	n  map[string]int
}

func (h *handled) add(msg jetstream.Msg) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == nil {
		h.n = map[string]int{}
	}
	h.n[queue.JobIDOf(msg.Data())]++
}

func (h *handled) total() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := 0
	for _, n := range h.n {
		s += n
	}
	return s
}

func (h *handled) each(t *testing.T, ids int, want int) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.n) != ids {
		t.Fatalf("%d jobs handled, want %d: %v", len(h.n), ids, h.n)
	}
	for id, n := range h.n {
		if n != want {
			t.Fatalf("job %s handled %d times, want %d", id, n, want)
		}
	}
}

func publishJobs(q *queueRig, k int) {
	for i := range k {
		id := fmt.Sprintf("j-%d", i)
		q.publish(contracts.SubjectSignInteractive, id, []byte(`{"id":"`+id+`"}`))
	}
}

// Every message is handled once and acked, with at most n in hand at a time.
func TestConsumeHandlesEachOnce(t *testing.T) {
	for _, tc := range []struct{ n, k int }{{1, 3}, {2, 6}, {4, 10}} {
		t.Run(fmt.Sprintf("%d at a time", tc.n), func(t *testing.T) {
			q := newQueueRig(t, 30*time.Second, 3)
			p := q.pool(30*time.Second, 3)
			var (
				h            handled
				inHand, most atomic.Int32
				gate         = make(chan struct{})
				gateOnce     sync.Once
				openGate     = func() { gateOnce.Do(func() { close(gate) }) }
			)
			defer openGate()
			publishJobs(q, tc.k)
			c := startConsume(q.ctx, p, tc.n, func(ctx context.Context, msg jetstream.Msg) error {
				now := inHand.Add(1)
				defer inHand.Add(-1)
				for m := most.Load(); now > m && !most.CompareAndSwap(m, now); m = most.Load() {
				}
				h.add(msg)
				<-gate
				return nil
			})
			// The first n are held: a pool that took more would start them meanwhile.
			q.waitFor(fmt.Sprintf("%d jobs in hand", tc.n), func() bool { return inHand.Load() >= int32(tc.n) })
			time.Sleep(300 * time.Millisecond)
			if m := most.Load(); m != int32(tc.n) {
				t.Fatalf("%d jobs in hand at once, want %d", m, tc.n)
			}
			openGate()
			q.waitFor("every job acked", func() bool { return h.total() >= tc.k && q.msgs(contracts.StreamSign) == 0 })
			c.stop(t)
			h.each(t, tc.k, 1)
			if m := most.Load(); m > int32(tc.n) {
				t.Fatalf("%d jobs in hand at once, want at most %d", m, tc.n)
			}
		})
	}
}

// A shutdown takes no new message: the job in hand finishes and is acked, the messages the client
// had buffered go back to JetStream and are delivered again at once. A job still running at the
// drain deadline is cancelled and handed back at once too.
func TestConsumeShutdown(t *testing.T) {
	for _, tc := range []struct {
		name string
		// deadline: the drain deadline comes before the job in hand finishes.
		deadline bool
		acked    uint64
	}{
		{"the job in hand finishes", false, 1},
		{"the drain deadline cuts the job in hand short", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newQueueRig(t, 30*time.Second, 3)
			p := q.pool(30*time.Second, 3)
			var h handled
			started, finish := make(chan struct{}, 3), make(chan struct{})
			publishJobs(q, 3)
			c := startConsume(q.ctx, p, 1, func(ctx context.Context, msg jetstream.Msg) error {
				h.add(msg)
				started <- struct{}{}
				select {
				case <-finish:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
			<-started
			c.shutdown()
			if tc.deadline {
				c.deadline()
			} else {
				close(finish)
			}
			c.stop(t)
			if h.total() != 1 {
				t.Fatalf("%d jobs started, want the one in hand", h.total())
			}
			if n := q.msgs(contracts.StreamSign); n != 3-tc.acked {
				t.Fatalf("SIGN holds %d messages, want %d", n, 3-tc.acked)
			}
			// Handed back without a delay: another worker takes every one now.
			for range 3 - tc.acked {
				q.fetch(contracts.ConsumerSignInteractive, 10*time.Second)
			}
		})
	}
}

// In-progress acks keep a job that runs longer than AckWait in one worker's hands: the second worker
// on the same consumer never gets it.
func TestConsumeSlowJobStaysWithItsWorker(t *testing.T) {
	q := newQueueRig(t, time.Second, 3)
	var h handled
	slow := func(ctx context.Context, msg jetstream.Msg) error {
		h.add(msg)
		time.Sleep(3500 * time.Millisecond) // three and a half AckWaits
		return nil
	}
	a := startConsume(q.ctx, q.pool(time.Second, 3), 1, slow)
	b := startConsume(q.ctx, q.pool(time.Second, 3), 1, slow)
	publishJobs(q, 1)
	q.waitFor("the job acked", func() bool { return h.total() >= 1 && q.msgs(contracts.StreamSign) == 0 })
	a.stop(t)
	b.stop(t)
	h.each(t, 1, 1)
}

// A worker that starts before NATS has its consumers (NATS restarting, a leader election) waits for
// them instead of stopping.
func TestConsumeWaitsForItsConsumer(t *testing.T) {
	ns := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	q := &queueRig{t: t, ctx: ctx, nc: ns.NC, js: ns.JS}
	var h handled
	c := startConsume(ctx, q.pool(30*time.Second, 3), 1, func(_ context.Context, msg jetstream.Msg) error {
		h.add(msg)
		return nil
	})
	time.Sleep(1500 * time.Millisecond) // at least one failed look for the consumer
	if err := queue.Provision(ctx, ns.JS, queue.Settings{Replicas: 1, AckWait: 30 * time.Second, MaxDeliver: 3, MaxAckPending: 16}); err != nil {
		t.Fatal(err)
	}
	publishJobs(q, 1)
	q.waitFor("the job handled", func() bool { return h.total() == 1 && q.msgs(contracts.StreamSign) == 0 })
	c.stop(t)
}
