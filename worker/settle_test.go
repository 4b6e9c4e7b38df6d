package worker

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/signet-b24/signet/contracts"
)

// settle turns a handler's error into what JetStream does with the message, as the server reports
// it: acked (gone from the WorkQueue stream), terminated with the reason (gone, and a
// MSG_TERMINATED advisory), handed back now (redelivered at once) or later (NAKed with a delay:
// ErrBusy waits the pool's AckWait, here an hour; a passing failure queue.RetryDelay, 32 s on the
// fifth delivery).
func TestSettle(t *testing.T) {
	const (
		acked      = "acked"
		terminated = "terminated"
		now        = "handed back now"
		later      = "handed back later"
	)
	encrypted := Permanentf("document x.pdf of job j-1: %w", errors.New("the PDF is encrypted"))
	for _, tc := range []struct {
		name     string
		err      error
		draining bool
		want     string
	}{
		{"signed", nil, false, acked},
		{"failed for good", encrypted, false, terminated},
		{"failed for good during a shutdown", encrypted, true, terminated},
		{"cut short by the drain deadline", fmt.Errorf("signing job j-1: %w", context.Canceled), true, now},
		{"being signed by another worker", fmt.Errorf("job j-1: %w (lease refreshed 1s ago)", ErrBusy), false, later},
		{"failed, will pass", errors.New("downloading x.pdf: connection refused"), false, later},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newQueueRig(t, 30*time.Second, 10)
			p := q.pool(time.Hour, 10)
			naks := q.advisories("MSG_NAKED", contracts.ConsumerSignInteractive)
			terms := q.advisories("MSG_TERMINATED", contracts.ConsumerSignInteractive)
			seq := q.publish(contracts.SubjectSignInteractive, "j-1", []byte(`{"id":"j-1"}`))
			// Four deliveries handed back at once first: the fifth is settled, so that a passing
			// failure waits RetryDelay(5), far longer than this test looks.
			for range 4 {
				if err := q.fetch(contracts.ConsumerSignInteractive, 10*time.Second).Nak(); err != nil {
					t.Fatal(err)
				}
				q.advisory(naks)
			}
			msg := q.fetch(contracts.ConsumerSignInteractive, 10*time.Second)
			p.settle(contracts.ConsumerSignInteractive, msg, tc.err, tc.draining)

			switch tc.want {
			case acked:
				if n := q.msgs(contracts.StreamSign); n != 0 {
					t.Fatalf("SIGN holds %d messages after an ack, want 0", n)
				}
			case terminated:
				a := q.advisory(terms)
				if a.StreamSeq != seq || a.Reason != tc.err.Error() {
					t.Fatalf("terminated seq %d with reason %q, want seq %d and %q", a.StreamSeq, a.Reason, seq, tc.err)
				}
				if n := q.msgs(contracts.StreamSign); n != 0 {
					t.Fatalf("SIGN holds %d messages after a term, want 0", n)
				}
			case now:
				q.advisory(naks)
				again := q.fetch(contracts.ConsumerSignInteractive, 10*time.Second)
				if md, _ := again.Metadata(); md.NumDelivered != 6 {
					t.Fatalf("redelivered as delivery %d, want 6", md.NumDelivered)
				}
			case later:
				q.advisory(naks)
				if again := q.next(contracts.ConsumerSignInteractive, 2*time.Second); again != nil {
					md, _ := again.Metadata()
					t.Fatalf("redelivered at once (delivery %d), want a delay", md.NumDelivered)
				}
				if n := q.msgs(contracts.StreamSign); n != 1 {
					t.Fatalf("SIGN holds %d messages, want the one waiting for its retry", n)
				}
			}
			if n, _, _ := terms.Pending(); tc.want != terminated && n > 0 {
				t.Fatal("the message was terminated")
			}
		})
	}
}

// A long reason is cut to the 200 bytes a term reason is given.
func TestSettleReasonBounded(t *testing.T) {
	long := Permanent(errors.New(string(make([]byte, 300))))
	if got := len(reasonOf(long)); got != 200 {
		t.Fatalf("reason of %d bytes, want 200", got)
	}
	short := Permanentf("document x.pdf of job j-1: the PDF is encrypted")
	if got := reasonOf(short); got != short.Error() {
		t.Fatalf("short reason changed: %q", got)
	}
}

// Pool.final: a failure that would be retried ends on the message's last delivery, unless the handler
// was cut short or only waited for another worker's lease.
func TestFinal(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	passing := errors.New("portal unreachable")
	encrypted := Permanentf("document x.pdf of job j-1: the PDF is encrypted")
	// One message on its first delivery; final only reads it.
	q := newQueueRig(t, 30*time.Second, 10)
	q.publish(contracts.SubjectSignInteractive, "j-1", []byte(`{"id":"j-1"}`))
	msg := q.fetch(contracts.ConsumerSignInteractive, 10*time.Second)
	for _, tc := range []struct {
		name       string
		maxDeliver int
		ctx        context.Context
		err        error
		want       bool
	}{
		{"a passing failure on the last delivery", 1, context.Background(), passing, true},
		{"a passing failure with deliveries left", 2, context.Background(), passing, false},
		{"no delivery limit", 0, context.Background(), passing, false},
		{"already permanent", 1, context.Background(), encrypted, false},
		{"waiting for another worker's lease", 1, context.Background(), fmt.Errorf("job j: %w", ErrBusy), false},
		{"cut short (shutdown, lost lease)", 1, cancelled, passing, false},
		{"no failure", 1, context.Background(), nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := q.pool(time.Second, tc.maxDeliver).final(tc.ctx, msg, tc.err); got != tc.want {
				t.Fatalf("final = %v, want %v", got, tc.want)
			}
		})
	}
}

// A failure that names its delay (retryAfter: a paused portal's end, a callback's own attempt count)
// is NAKed with that delay, not with the delivery count's: on the fifth delivery RetryDelay would be
// 32 s, the named delay is 2 s. (On the callback consumer, which has no BackOff: nats-server adds a
// BackOff step to a NAK's delay, internal/queue CallbackMaxDeliver.)
func TestSettleNamedDelay(t *testing.T) {
	q := newQueueRig(t, 30*time.Second, 10)
	p := q.pool(time.Hour, 10)
	q.publish(contracts.SubjectCallback, "cb-j-1", []byte(`{"job_id":"j-1"}`))
	for range 4 {
		if err := q.fetch(contracts.ConsumerCallback, 10*time.Second).Nak(); err != nil {
			t.Fatal(err)
		}
	}
	msg := q.fetch(contracts.ConsumerCallback, 10*time.Second)
	p.settle(contracts.ConsumerCallback, msg, retryAfter(errors.New("portal paused"), 2*time.Second), false)
	if again := q.next(contracts.ConsumerCallback, 500*time.Millisecond); again != nil {
		t.Fatal("redelivered at once, want the named delay")
	}
	again := q.fetch(contracts.ConsumerCallback, 20*time.Second)
	if md, _ := again.Metadata(); md.NumDelivered != 6 {
		t.Fatalf("redelivered as delivery %d, want 6", md.NumDelivered)
	}
}
