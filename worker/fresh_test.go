package worker

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap/zaptest"

	"github.com/signet-b24/signet/contracts"
)

// A first delivery of the original message, published less than a third of AckWait ago, is fresh; a
// copy put back by `signet dlq retry` (another Nats-Msg-Id), an old message (one that may have
// waited in a client's buffer past AckWait) and a redelivery are not (issue 22).
func TestFresh(t *testing.T) {
	q := newQueueRig(t, 30*time.Second, 10)
	p := q.pool(3*time.Second, 10)
	q.publish(contracts.SubjectSignInteractive, "j-1", []byte(`{"id":"j-1"}`))
	msg := q.fetch(contracts.ConsumerSignInteractive, 10*time.Second)
	if !p.fresh(msg, "j-1") {
		t.Error("the first delivery of a message just published is not fresh")
	}
	if p.fresh(msg, "j-1-retry-7") {
		t.Error("a message whose Nats-Msg-Id is not the job's (a dlq retry copy) is fresh")
	}
	p.Now = func() time.Time { return time.Now().Add(time.Second) }
	if p.fresh(msg, "j-1") {
		t.Error("a message published a third of AckWait ago is fresh")
	}
	p.Now = nil
	if err := msg.Nak(); err != nil {
		t.Fatal(err)
	}
	if again := q.fetch(contracts.ConsumerSignInteractive, 10*time.Second); p.fresh(again, "j-1") {
		t.Error("a redelivery is fresh")
	}
}

// holdFresh takes no lease for a job that ends within a third of AckWait, takes it for one that
// runs longer, and cancels the job when it cannot have the lease before a redelivery may begin: when
// another worker holds it, or when five sixths of AckWait after the publish have passed without it.
func TestHoldFresh(t *testing.T) {
	q := newQueueRig(t, 30*time.Second, 3)
	r, err := OpenResults(q.ctx, q.js, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	const aw = 600 * time.Millisecond
	p := q.pool(aw, 3)
	p.Signer = &Signer{Results: r}
	log := zaptest.NewLogger(t)

	// Fast: released before a third of AckWait, no lease was ever taken.
	ctx, release, _ := p.holdFresh(q.ctx, "fast", time.Now(), log)
	release()
	if ctx.Err() == nil {
		t.Error("the job's context outlived its release")
	}
	if l, err := r.Claim(q.ctx, "fast", "second worker", time.Hour); err != nil {
		t.Fatalf("a fast fresh job left a lease behind: %v", err)
	} else {
		l.Release(q.ctx)
	}

	// Slow: past a third of AckWait the lease is its own, and another worker waits.
	ctx, release, mayWrite := p.holdFresh(q.ctx, "slow", time.Now(), log)
	q.waitFor("the slow job's lease", func() bool {
		_, err := r.kv.Get(q.ctx, "lease.slow") // looked at, not claimed: a claim would race the job's
		return err == nil
	})
	if _, err := r.Claim(q.ctx, "slow", "second worker", time.Hour); !errors.Is(err, ErrBusy) {
		t.Fatalf("a second worker claimed the slow job's lease: %v, want ErrBusy", err)
	}
	time.Sleep(aw) // past the deadline: a held lease lifts it
	if ctx.Err() != nil {
		t.Fatal("a slow job holding its lease was cancelled")
	}
	if err := mayWrite(); err != nil {
		t.Errorf("a job holding its lease may not write: %v", err)
	}
	release()
	if l, err := r.Claim(q.ctx, "slow", "second worker", time.Hour); err != nil {
		t.Fatalf("the slow job's lease was not released: %v", err)
	} else {
		l.Release(q.ctx)
	}

	// Another worker holds the lease: the job stops when it tries to take it.
	other, err := r.Claim(q.ctx, "taken", "second worker", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx, release, _ = p.holdFresh(q.ctx, "taken", time.Now(), log)
	defer release()
	select {
	case <-ctx.Done():
	case <-time.After(time.Minute):
		t.Fatal("the job went on although another worker held its lease")
	}
	other.Release(q.ctx)

	// Published long ago (a redelivery may be on its way): without a lease by the deadline it stops.
	ctx, release, _ = p.holdFresh(q.ctx, "late", time.Now().Add(-aw), log)
	defer release()
	select {
	case <-ctx.Done():
	case <-time.After(time.Minute):
		t.Fatal("the job went on past the deadline without a lease")
	}
}

// Without its lease, a fresh job does not write to NATS while its connection is down: the write would
// wait in the reconnect buffer and could land after a redelivery's worker found nothing recorded.
func TestFreshWritesNotWhileDisconnected(t *testing.T) {
	q := newQueueRig(t, 30*time.Second, 3)
	nc, err := nats.Connect(q.nc.ConnectedUrl(), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	p := &Pool{JS: js, AckWait: time.Hour, Log: zaptest.NewLogger(t)}
	_, release, mayWrite := p.holdFresh(q.ctx, "j-1", time.Now(), p.Log)
	defer release()
	if err := mayWrite(); err != nil {
		t.Fatalf("a fresh job on a live connection may not write: %v", err)
	}
	nc.Close()
	if err := mayWrite(); !errors.Is(err, nats.ErrDisconnected) {
		t.Fatalf("a fresh job without its lease on a closed connection: %v, want ErrDisconnected", err)
	}
}
